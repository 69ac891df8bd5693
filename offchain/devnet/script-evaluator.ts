import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * The devnet's script evaluation on a worker thread. `@lucid-evolution/uplc`'s evaluator is the one Lucid uses
 * locally, and on a large batch it runs for minutes (docs/DECISIONS.md, "Local evaluation"); on the chain server's
 * thread that would stall every read and block of the chain, and under `ntx up` the provider, matcher and API that
 * share its process. One thread, requests in arrival order (the server submits one transaction at a time; evaluate
 * requests queue behind), at most `maxWaiting` waiting, each within `timeoutMs` (then the thread is replaced).
 */

/** What `eval_phase_two_raw` takes, as bytes and numbers (what survives postMessage). */
export interface EvalRequest {
  tx: Uint8Array;
  inputs: Uint8Array[];
  outputs: Uint8Array[];
  costModels: Uint8Array;
  maxSteps: bigint;
  maxMem: bigint;
  zeroTime: bigint;
  zeroSlot: bigint;
  slotLength: number;
}

/** The evaluator's answer: CBOR of each evaluated redeemer, or the evaluator's failure (the script's trace). */
export type EvalResult = { ok: true; redeemers: Uint8Array[] } | { ok: false; failure: string };

export interface ScriptEvaluator {
  evaluate(request: EvalRequest): Promise<EvalResult>;
  /** Evaluations running and waiting. */
  load(): { running: number; waiting: number };
  close(): Promise<void>;
}

export class EvaluatorBusy extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvaluatorBusy";
  }
}

// The thread's body: plain CommonJS (the evaluator package is CommonJS), so no TypeScript loader is involved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const uplc = require(workerData.uplc);
const text = (e) => (typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e));
// The evaluator's own fault when its WASM memory grows while it copies the arguments in (EVALUATOR_MEMORY_FAULT in
// offchain/tx/common.ts): not the script's failure, so the same evaluation is run again, at most twice.
const memoryFault = (e) => e instanceof TypeError && /detached ArrayBuffer/.test(e.message);
parentPort.on("message", (r) => {
  let reply;
  for (let attempt = 0; !reply; attempt++) {
    try {
      const redeemers = uplc.eval_phase_two_raw(r.tx, r.inputs, r.outputs, r.costModels, r.maxSteps, r.maxMem, r.zeroTime, r.zeroSlot, r.slotLength);
      reply = { id: r.id, ok: true, redeemers };
    } catch (error) {
      if (!(memoryFault(error) && attempt < 2)) reply = { id: r.id, ok: false, failure: text(error) };
    }
  }
  parentPort.postMessage(reply);
});
`;

interface Pending {
  id: number;
  request: EvalRequest;
  resolve: (result: EvalResult) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export function createScriptEvaluator(limits: { timeoutMs: number; maxWaiting: number } = { timeoutMs: 15 * 60_000, maxWaiting: 64 }): ScriptEvaluator {
  const uplcPath = createRequire(import.meta.url).resolve("@lucid-evolution/uplc");
  const waiting: Pending[] = [];
  let current: Pending | undefined;
  let worker: Worker | undefined;
  let nextId = 1;
  let closed = false;

  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { uplc: uplcPath } });
    w.on("message", (reply: { id: number } & EvalResult) => {
      if (!current || reply.id !== current.id) return;
      const done = current;
      current = undefined;
      clearTimeout(done.timer);
      done.resolve(reply.ok ? { ok: true, redeemers: reply.redeemers } : { ok: false, failure: reply.failure });
      next();
    });
    w.on("error", () => undefined);
    w.on("exit", () => {
      if (worker !== w) return;
      worker = undefined;
      if (current) {
        const lost = current;
        current = undefined;
        clearTimeout(lost.timer);
        lost.reject(new EvaluatorBusy("the script evaluation thread exited during the evaluation: submit again"));
      }
      next();
    });
    return w;
  };

  const next = () => {
    if (closed || current || waiting.length === 0) return;
    current = waiting.shift()!;
    worker ??= start();
    const { id, request } = current;
    worker.postMessage({ id, ...request });
  };

  const timedOut = (job: Pending) => {
    const queued = waiting.indexOf(job);
    if (queued >= 0) waiting.splice(queued, 1);
    job.reject(new EvaluatorBusy(`script evaluation took longer than ${limits.timeoutMs} ms: submit again later`));
    if (current === job) {
      // Deep in the evaluator: replace the thread rather than wait for it.
      current = undefined;
      const old = worker;
      worker = undefined;
      void old?.terminate();
      next();
    }
  };

  return {
    evaluate(request) {
      if (closed) return Promise.reject(new EvaluatorBusy("the devnet chain is shutting down"));
      if (waiting.length >= limits.maxWaiting) return Promise.reject(new EvaluatorBusy(`${limits.maxWaiting} script evaluations are already waiting: submit again later`));
      return new Promise<EvalResult>((resolve, reject) => {
        const job: Pending = { id: nextId++, request, resolve, reject, timer: undefined as unknown as NodeJS.Timeout };
        job.timer = setTimeout(() => timedOut(job), limits.timeoutMs);
        waiting.push(job);
        next();
      });
    },
    load: () => ({ running: current ? 1 : 0, waiting: waiting.length }),
    async close() {
      closed = true;
      for (const job of [...waiting, ...(current ? [current] : [])]) {
        clearTimeout(job.timer);
        job.reject(new EvaluatorBusy("the devnet chain is shutting down"));
      }
      waiting.length = 0;
      current = undefined;
      await worker?.terminate();
      worker = undefined;
    },
  };
}
