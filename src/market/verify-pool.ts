/**
 * Signature checks set the matcher's ceiling, so they run on worker threads (one per core by default) while
 * the main thread matches. Requests made in the same tick go to the workers as batches, which keeps the
 * per-message postMessage cost small next to an Ed25519 verify.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { NtxError } from "../../offchain/errors.js";
import { startModuleWorker } from "../runtime/module-worker.js";
import { decodeBidTerms, decodeOffer, decodeProviderConfirm, type Decoded, type VerifiedBidTerms, type VerifiedOffer } from "./decode.js";
import { RejectReason } from "./protocol.js";
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
  kind: Kind;
  data: Uint8Array;
  resolve: (r: Decoded<never>) => void;
  reject: (error: Error) => void;
  /** Already in a batch whose thread died: the next death with it alone in the batch drops it. */
  retried?: boolean;
}

/** The worker module without its extension: `.js` when built, `.ts` from sources. */
const DEFAULT_WORKER = new URL("./verify-worker", import.meta.url);


export interface VerifyPoolOptions {
  /** Threads; 0 verifies inline on the calling thread (small tools, tests of the matcher logic). Default: one per core. */
  workers?: number;
  /** Another worker module (without extension) that speaks verify-worker's protocol: tests of thread deaths. */
  workerModule?: URL;
  /** Told of every message dropped because it took a thread down twice. */
  onCrashDrop?: (kind: Kind) => void;
}

/**
 * A thread that dies (a native crash, an OOM, a bug that throws past decode's guard) takes its batch with it.
 * Each message of that batch is retried once, alone in its own batch, on a fresh thread; one that kills that
 * thread too is the poison, and is answered as rejected (`verifier_crash`) so it is counted and terminated.
 */
export function createVerifyPool(options: VerifyPoolOptions = {}): VerifyPool {
  const count = options.workers ?? Math.max(1, availableParallelism());
  const workerModule = options.workerModule ?? DEFAULT_WORKER;
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
  const workers = Array.from({ length: count }, () => startModuleWorker(workerModule));
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
  /** Messages of a dead thread's batch, each sent alone. */
  const solo: Pending[] = [];
  let scheduled = false;

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
      // A thread works through its batches in the order they were posted (Map order: by id), so the first
      // one still in flight is the one it died on; the rest had not started and go back without a mark.
      let culprit = true;
      for (const [id, batch] of inflight) {
        if (owner.get(id) !== index) continue;
        inflight.delete(id);
        owner.delete(id);
        const died = culprit;
        culprit = false;
        for (const p of batch) {
          if (!died) solo.push(p);
          else if (!p.retried) {
            p.retried = true;
            solo.push(p);
          } else {
            options.onCrashDrop?.(p.kind);
            p.resolve({ ok: false, reason: RejectReason.VerifierCrash, message: `a verifier thread died on this ${p.kind} twice (exit ${code})` } as Decoded<never>);
          }
        }
      }
      load[index] = 0;
      attach(index, startModuleWorker(workerModule));
    });
  };
  workers.forEach((w, index) => attach(index, w));

  const pickWorker = () => {
    let target = -1;
    for (let i = 0; i < count; i++) if (ready[i] && (target < 0 || load[i]! < load[target]!)) target = i;
    return target;
  };

  const send = (target: number, kind: Kind, items: Pending[], now: number) => {
    const id = nextId++;
    inflight.set(id, items);
    owner.set(id, target);
    load[target]! += items.length;
    const batch: VerifyBatch = { id, kind, now, items: items.map((p) => p.data) };
    workers[target]!.postMessage(batch);
  };

  const flush = () => {
    scheduled = false;
    const now = Date.now();
    while (solo.length > 0) {
      const target = pickWorker();
      if (target < 0) return;
      const p = solo.shift()!;
      send(target, p.kind, [p], now);
    }
    for (const kind of ["confirm", "offer", "bid"] as const) {
      const queue = queues[kind];
      while (queue.length > 0) {
        const target = pickWorker();
        if (target < 0) return;
        send(target, kind, queue.splice(0, MAX_BATCH), now);
      }
    }
  };

  const submit = (kind: Kind, data: Uint8Array): Promise<Decoded<never>> => {
    if (closed) return Promise.reject(new NtxError("MARKET_CLOSED", "verify pool is closed"));
    return new Promise((resolve, reject) => {
      queues[kind].push({ kind, data, resolve, reject });
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
      for (const batch of [...inflight.values(), solo, ...Object.values(queues)]) for (const p of batch) p.reject(new NtxError("MARKET_CLOSED", "verify pool is closed"));
      inflight.clear();
    },
  };
}
