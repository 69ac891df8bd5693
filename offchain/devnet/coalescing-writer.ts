/**
 * Group commit for the state file: callers ask for "a write that starts after now" and share it. While one write
 * runs, every new request waits for the single next one, so a burst of submissions costs two writes, not one each.
 */
export class CoalescingWriter {
  private running: Promise<void> | undefined;
  private queued: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(private readonly write: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) {
      this.running = this.start();
      return this.running;
    }
    if (!this.queued) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.queued = { promise, resolve, reject };
    }
    return this.queued.promise;
  }

  private start(): Promise<void> {
    const done = this.write();
    const settle = () => {
      this.running = undefined;
      const next = this.queued;
      this.queued = undefined;
      if (next) {
        this.running = this.start();
        this.running.then(next.resolve, next.reject);
      }
    };
    done.then(settle, settle);
    return done;
  }
}
