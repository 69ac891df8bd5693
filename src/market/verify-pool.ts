/**
 * Signature checks set the matcher's ceiling, so they run on worker threads (one per core by default) while
 * the main thread matches. Requests made in the same tick go to the workers as batches, which keeps the
 * per-message postMessage cost small next to an Ed25519 verify.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { NtxError } from "../../offchain/errors.js";
import { decodeBidTerms, decodeOffer, decodeProviderConfirm, type Decoded, type VerifiedBidTerms, type VerifiedOffer } from "./decode.js";
import type { ProviderConfirm } from "./schemas.js";
import type { VerifyBatch } from "./verify-worker.js";

export interface VerifyPool {
  readonly workers: number;
  decodeBidTerms(data: Uint8Array, now?: number): Promise<Decoded<VerifiedBidTerms>>;
  decodeOffer(data: Uint8Array, now?: number): Promise<Decoded<VerifiedOffer>>;
  decodeConfirm(data: Uint8Array): Promise<Decoded<ProviderConfirm>>;
  /** Resolves once every thread has loaded and can take work (a cold thread takes a while to load). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BATCH = 256;
type Kind = VerifyBatch["kind"];

interface Pending {
  data: Uint8Array;
  resolve: (r: Decoded<never>) => void;
  reject: (error: Error) => void;
}

function startWorker(): Worker {
  const js = fileURLToPath(new URL("./verify-worker.js", import.meta.url));
  if (existsSync(js)) return new Worker(js);
  // Running from TypeScript sources (tsx, vitest): node 20 does not apply `--import tsx` to a worker's entry
  // module, so a one-line bootstrap loads the worker through tsx's API instead.
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href;
  const file = fileURLToPath(new URL("./verify-worker.ts", import.meta.url));
  return new Worker(`import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(file)}, ${JSON.stringify(import.meta.url)}))`, { eval: true });
}

/** `workers: 0` verifies inline on the calling thread (small tools, tests of the matcher logic). */
export function createVerifyPool(options: { workers?: number } = {}): VerifyPool {
  const count = options.workers ?? Math.max(1, availableParallelism());
  if (count === 0) {
    return {
      workers: 0,
      decodeBidTerms: async (data, now = Date.now()) => decodeBidTerms(data, { now }),
      decodeOffer: async (data, now = Date.now()) => decodeOffer(data, { now }),
      decodeConfirm: async (data) => decodeProviderConfirm(data),
      ready: async () => undefined,
      close: async () => undefined,
    };
  }
  const workers = Array.from({ length: count }, startWorker);
  // A worker takes batches only once its module has loaded and said so.
  const ready = new Array<boolean>(count).fill(false);
  let allReady!: () => void;
  const allReadyPromise = new Promise<void>((resolve) => (allReady = resolve));
  const inflight = new Map<number, Pending[]>();
  const load = new Array<number>(count).fill(0);
  const owner = new Map<number, number>();
  let nextId = 1;
  let closed = false;
  const queues: Record<Kind, Pending[]> = { bid: [], offer: [], confirm: [] };
  let scheduled = false;

  // A worker that dies (a native crash, an OOM) fails its batches with an error, so the matcher leaves those
  // bids unacked for redelivery (never "malformed": nothing is known about them), and is replaced.
  const attach = (index: number, w: Worker) => {
    workers[index] = w;
    ready[index] = false;
    w.on("message", (msg: { id: number; results: Decoded<never>[] } | { ready: true }) => {
      if ("ready" in msg) {
        ready[index] = true;
        if (ready.every(Boolean)) allReady();
        flush();
        return;
      }
      const batch = inflight.get(msg.id);
      if (!batch) return;
      inflight.delete(msg.id);
      owner.delete(msg.id);
      load[index]! -= batch.length;
      batch.forEach((p, i) => p.resolve(msg.results[i]!));
    });
    w.on("error", () => undefined);
    w.on("exit", (code) => {
      if (closed) return;
      for (const [id, batch] of inflight) {
        if (owner.get(id) !== index) continue;
        inflight.delete(id);
        owner.delete(id);
        for (const p of batch) p.reject(new NtxError("MARKET_VERIFIER_CRASHED", `signature verifier thread exited (${code})`, { retryable: true }));
      }
      load[index] = 0;
      attach(index, startWorker());
    });
  };
  workers.forEach((w, index) => attach(index, w));

  const flush = () => {
    scheduled = false;
    const now = Date.now();
    for (const kind of ["confirm", "offer", "bid"] as const) {
      const queue = queues[kind];
      while (queue.length > 0) {
        let target = -1;
        for (let i = 0; i < count; i++) if (ready[i] && (target < 0 || load[i]! < load[target]!)) target = i;
        if (target < 0) return;
        const items = queue.splice(0, MAX_BATCH);
        const id = nextId++;
        inflight.set(id, items);
        owner.set(id, target);
        load[target]! += items.length;
        const batch: VerifyBatch = { id, kind, now, items: items.map((p) => p.data) };
        workers[target]!.postMessage(batch);
      }
    }
  };

  const submit = (kind: Kind, data: Uint8Array): Promise<Decoded<never>> => {
    if (closed) return Promise.reject(new NtxError("MARKET_CLOSED", "verify pool is closed"));
    return new Promise((resolve, reject) => {
      queues[kind].push({ data, resolve, reject });
      if (queues[kind].length >= MAX_BATCH) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };

  return {
    workers: count,
    decodeBidTerms: (data) => submit("bid", data) as Promise<Decoded<VerifiedBidTerms>>,
    decodeOffer: (data) => submit("offer", data) as Promise<Decoded<VerifiedOffer>>,
    decodeConfirm: (data) => submit("confirm", data) as Promise<Decoded<ProviderConfirm>>,
    ready: () => allReadyPromise,
    async close() {
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
      for (const batch of inflight.values()) for (const p of batch) p.reject(new NtxError("MARKET_CLOSED", "verify pool is closed"));
      inflight.clear();
    },
  };
}
