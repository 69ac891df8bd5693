/**
 * Transaction builds (coin selection, fee balancing, local script evaluation of a claim's whole batch) run on
 * worker threads, so a claim build never stalls the event loop of the API or of the provider daemon. Bounded three
 * ways: `workers` threads, `queue` builds waiting (more: BUILD_BUSY, 503 in the API), and `timeoutMs` per build from
 * the moment it is asked for (over: BUILD_TIMEOUT; a thread still running it is replaced).
 */
import { Worker } from "node:worker_threads";
import type { Chain } from "../../../offchain/chain/index.js";
import { NtxError } from "../../../offchain/errors.js";
import { startModuleWorker } from "../module-worker.js";
import { runBuilder, type BuilderName, type BuilderParams, type BuiltTx } from "./builders.js";
import type { BuildReply, BuildRequest } from "./worker.js";

/** The build thread's module without its extension: `.js` when built, `.ts` from sources. */
const WORKER_MODULE = new URL("./worker", import.meta.url);

export interface TxBuildPool {
  /**
   * `urgent` builds wait ahead of the others (behind earlier urgent ones): a provider's Complete, which holds the
   * job's reserved capacity and races its deadline, does not queue behind a batch claim that can wait.
   */
  build<N extends BuilderName>(name: N, params: BuilderParams[N], options?: { urgent?: boolean }): Promise<BuiltTx>;
  /** Builds running and waiting. */
  load(): { running: number; waiting: number };
  close(): Promise<void>;
}

interface Job {
  id: number;
  name: BuilderName;
  params: unknown;
  resolve: (tx: BuiltTx) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  slot?: number;
  urgent: boolean;
}

function rebuildError(error: Extract<BuildReply, { ok: false }>["error"]): NtxError {
  return new NtxError(error.code, error.message, { retryable: error.retryable, ...(error.details ? { details: error.details } : {}) });
}

export function createTxBuildPool(chain: Chain, limits: { workers: number; queue: number; timeoutMs: number }): TxBuildPool {
  const waiting: Job[] = [];
  const running = new Map<number, Job>();
  let nextId = 1;
  let closed = false;

  if (limits.workers === 0) {
    // Inline (tests of the routes' logic, small tools): still bounded by the queue and the timeout.
    let active = 0;
    return {
      async build(name, params) {
        if (closed) throw new NtxError("BUILD_CLOSED", "the tx build pool is closed");
        if (active >= limits.queue + 1) throw busy(limits.queue);
        active++;
        try {
          return await runBuilder(chain, name, params);
        } finally {
          active--;
        }
      },
      load: () => ({ running: active, waiting: 0 }),
      close: async () => void (closed = true),
    };
  }

  const slots: Array<{ worker: Worker; ready: boolean; job: Job | undefined }> = [];
  const spawn = (index: number) => {
    const worker = startModuleWorker(WORKER_MODULE, chain.config);
    const slot = { worker, ready: false, job: undefined as Job | undefined };
    slots[index] = slot;
    worker.on("message", (msg: BuildReply | { ready: true }) => {
      if ("ready" in msg) {
        slot.ready = true;
        dispatch();
        return;
      }
      const job = running.get(msg.id);
      if (!job) return;
      finish(job);
      if (msg.ok) job.resolve(msg.result);
      else job.reject(rebuildError(msg.error));
      slot.job = undefined;
      dispatch();
    });
    worker.on("error", () => undefined);
    worker.on("exit", (code) => {
      if (slots[index] !== slot) return;
      if (slot.job) {
        finish(slot.job);
        slot.job.reject(new NtxError("BUILD_FAILED", `the tx build thread exited (${code}) during the build: retry`, { retryable: true }));
      }
      if (!closed) spawn(index);
    });
  };
  // Threads start on the first build: an API that never builds holds no Lucid copies.
  const ensureStarted = () => {
    if (slots.length === 0) for (let i = 0; i < limits.workers; i++) spawn(i);
  };

  const finish = (job: Job) => {
    clearTimeout(job.timer);
    running.delete(job.id);
  };

  const dispatch = () => {
    for (const slot of slots) {
      if (!slot.ready || slot.job || waiting.length === 0) continue;
      const job = waiting.shift()!;
      slot.job = job;
      running.set(job.id, job);
      const request: BuildRequest = { id: job.id, name: job.name, params: job.params };
      slot.worker.postMessage(request);
    }
  };

  const timedOut = (job: Job) => {
    const queued = waiting.indexOf(job);
    if (queued >= 0) waiting.splice(queued, 1);
    const slotIndex = slots.findIndex((s) => s.job === job);
    finish(job);
    job.reject(new NtxError("BUILD_TIMEOUT", `the transaction build took longer than ${limits.timeoutMs} ms (the server is busy): retry later`, { retryable: true }));
    if (slotIndex >= 0) {
      // The thread may be deep in script evaluation: replace it rather than wait.
      const slot = slots[slotIndex]!;
      slot.job = undefined;
      spawn(slotIndex);
      void slot.worker.terminate();
    }
  };

  return {
    build(name, params, options = {}) {
      if (closed) return Promise.reject(new NtxError("BUILD_CLOSED", "the tx build pool is closed"));
      if (waiting.length >= limits.queue) return Promise.reject(busy(limits.queue));
      ensureStarted();
      return new Promise<BuiltTx>((resolve, reject) => {
        const urgent = options.urgent ?? false;
        const job: Job = { id: nextId++, name, params, resolve, reject, timer: undefined as unknown as NodeJS.Timeout, urgent };
        job.timer = setTimeout(() => timedOut(job), limits.timeoutMs);
        const before = urgent ? waiting.findIndex((j) => !j.urgent) : -1;
        if (before < 0) waiting.push(job);
        else waiting.splice(before, 0, job);
        dispatch();
      });
    },
    load: () => ({ running: running.size, waiting: waiting.length }),
    async close() {
      closed = true;
      for (const job of [...waiting, ...running.values()]) {
        clearTimeout(job.timer);
        job.reject(new NtxError("BUILD_CLOSED", "the tx build pool is closed"));
      }
      waiting.length = 0;
      running.clear();
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}

function busy(queue: number): NtxError {
  return new NtxError("BUILD_BUSY", `${queue} transaction builds are already waiting: retry in a few seconds`, { retryable: true, details: { queue } });
}
