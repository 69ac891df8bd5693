/**
 * Runs async jobs one at a time, in arrival order. The devnet ledger changes only inside this queue, so
 * concurrent HTTP clients see every submission and block as one atomic step.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(job, job);
    // A failed job must not poison the queue for the next caller.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
