/**
 * Provider capacity records in the `ntx-capacity` KV bucket, one per provider, written only with
 * compare-and-set. Every reservation is a write on the provider's latest revision, so when two matcher
 * instances pick the same provider one write wins and the other re-reads and re-checks: capacity is never
 * sold twice. Reservations of one instance for one provider are queued and written together, so a popular
 * provider costs one KV write per batch instead of one per bid.
 *
 * What counts against an offer: pending reservations until the match lapses (or a grace after their confirmation
 * window, if no matcher is left to lapse it), and confirmed
 * ones until the provider publishes a newer offer (whose free resources already leave them out), and never
 * past their own end: the lock window after the confirmation (the offer's `lockWindowMs`), or the bid's
 * deadline once the provider reports the escrow `locked`. A `released` or finished job ends it at once.
 */
import { z } from "zod/v4";
import { isNtxError, NtxError } from "../../offchain/errors.js";
import type { MarketMetrics } from "./metrics.js";
import type { OrderBook, Usage } from "./order-book.js";
import type { MarketKv } from "./transport.js";

export const Reservation = z.object({
  matchId: z.string(),
  offerNonce: z.string().regex(/^[0-9]{1,20}$/),
  cpuCores: z.number().int().nonnegative(),
  memoryMiB: z.number().int().nonnegative(),
  diskGiB: z.number().int().nonnegative(),
  gpuIndices: z.array(z.number().int().nonnegative()),
  /** Pending: the confirmation deadline. Confirmed: the lock window's end, or the bid's deadline once locked. */
  until: z.number().int(),
  state: z.enum(["pending", "confirmed"]),
  /** The bid's deadline: no reservation outlives it. */
  deadline: z.number().int().optional(),
  /** The matched offer's lock window. */
  lockWindowMs: z.number().int().nonnegative().optional(),
  locked: z.boolean().optional(),
});
export type Reservation = z.infer<typeof Reservation>;

export const CapacityRecord = z.object({ v: z.literal(1), providerId: z.string(), reservations: z.record(z.string(), Reservation) });
export type CapacityRecord = z.infer<typeof CapacityRecord>;

/**
 * A pending reservation still counts this long after its confirmation window: its confirmation may have been
 * stored in time and not yet handled (a matcher paused or behind). The matcher releases it explicitly when the
 * match lapses; this grace only bounds how long a matcher that died before doing so can hold the capacity.
 */
export const PENDING_GRACE_MS = 60_000;

/** When a reservation stops counting on its own. */
const endOf = (r: Reservation) => (r.state === "pending" ? r.until + PENDING_GRACE_MS : r.until);

function counts(r: Reservation, offerNonce: string, now: number): boolean {
  if (endOf(r) <= now) return false;
  return r.state === "pending" || BigInt(r.offerNonce) >= BigInt(offerNonce);
}

/** How long a match may stay between reservation and lock: the terms of the offer and of the bid. */
export interface Hold {
  deadline: number;
  lockWindowMs: number;
}

/** The end of a confirmed, not yet locked reservation: the lock window from the confirmation, within the deadline. */
const lockBy = (confirmedAt: number, hold: Partial<Hold>) => Math.min(confirmedAt + (hold.lockWindowMs ?? 0), hold.deadline ?? Number.MAX_SAFE_INTEGER);

export function countedUsage(record: CapacityRecord | undefined, offerNonce: string, now: number): Usage {
  const usage: Usage = { cpuCores: 0, memoryMiB: 0, diskGiB: 0, gpuIndices: [] };
  if (!record) return usage;
  for (const r of Object.values(record.reservations)) {
    if (!counts(r, offerNonce, now)) continue;
    usage.cpuCores += r.cpuCores;
    usage.memoryMiB += r.memoryMiB;
    usage.diskGiB += r.diskGiB;
    usage.gpuIndices.push(...r.gpuIndices);
  }
  return usage;
}

type Op =
  | { kind: "reserve"; jobHash: string; matchId: string; usage: Usage; until: number; hold: Hold; resolve: (ok: boolean) => void }
  /** matchId undefined: whatever reservation the job has (a provider's report names the job, not the match). */
  | { kind: "release"; jobHash: string; matchId: string | undefined; resolve: (ok: boolean) => void }
  | { kind: "confirm"; jobHash: string; matchId: string; usage: Usage; at: number; hold: Hold; resolve: (ok: boolean) => void; reject: (error: unknown) => void }
  | { kind: "lock"; jobHash: string; resolve: (ok: boolean) => void };

interface Cached {
  record: CapacityRecord;
  revision: number;
}

const MAX_CAS_ROUNDS = 50;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function pickDefined(r: Reservation): Partial<Hold> {
  const out: Partial<Hold> = {};
  if (r.deadline !== undefined) out.deadline = r.deadline;
  if (r.lockWindowMs !== undefined) out.lockWindowMs = r.lockWindowMs;
  return out;
}

export class CapacityLedger {
  readonly #kv: MarketKv;
  readonly #book: OrderBook;
  readonly #metrics: MarketMetrics;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  readonly #queues = new Map<string, Op[]>();
  readonly #running = new Set<string>();
  /** Earliest end of a counted reservation per provider (a confirmation window, a lock window, a deadline). */
  readonly #expiries = new Map<string, number>();

  constructor(kv: MarketKv, book: OrderBook, metrics: MarketMetrics, now: () => number) {
    this.#kv = kv;
    this.#book = book;
    this.#metrics = metrics;
    this.#now = now;
  }

  /** Usage to subtract from a provider's offer with this nonce. */
  usageFor(providerId: string, offerNonce: string): Usage {
    return countedUsage(this.#cache.get(providerId)?.record, offerNonce, this.#now());
  }

  /** A change seen on the KV watch (another instance's write, or the echo of ours). */
  observe(providerId: string, value: Uint8Array | null, revision: number): void {
    const cached = this.#cache.get(providerId);
    if (cached && cached.revision >= revision) return;
    if (!value) {
      this.#cache.delete(providerId);
    } else {
      let raw: unknown;
      try {
        raw = JSON.parse(decoder.decode(value));
      } catch {
        return;
      }
      const parsed = CapacityRecord.safeParse(raw);
      if (!parsed.success) return;
      this.#cache.set(providerId, { record: parsed.data, revision });
    }
    this.#publishToBook(providerId);
  }

  reserve(providerId: string, jobHash: string, matchId: string, usage: Usage, until: number, hold: Hold): Promise<boolean> {
    return new Promise((resolve) => this.#enqueue(providerId, { kind: "reserve", jobHash, matchId, usage, until, hold, resolve }));
  }

  release(providerId: string, jobHash: string, matchId: string | undefined): Promise<boolean> {
    return new Promise((resolve) => this.#enqueue(providerId, { kind: "release", jobHash, matchId, resolve }));
  }

  /**
   * Marks a reservation confirmed, as of `at` (when the server stored the confirmation), until the lock window
   * ends. The caller passes only a confirmation stored by its `confirmBy`, and such a confirmation wins: a
   * reservation collected meanwhile (its matcher ran behind) is written again, over the offer's room if another bid
   * took it, because the provider has taken the job and the buyer may be locking it. A KV that cannot be reached
   * throws, so the confirmation is retried.
   */
  confirm(providerId: string, jobHash: string, matchId: string, usage: Usage, at: number, hold: Hold): Promise<void> {
    return new Promise((resolve, reject) => this.#enqueue(providerId, { kind: "confirm", jobHash, matchId, usage, at, hold, resolve: () => resolve(), reject }));
  }

  /** The provider saw the escrow: the confirmed reservation now lasts until the bid's deadline. */
  lock(providerId: string, jobHash: string): Promise<boolean> {
    return new Promise((resolve) => this.#enqueue(providerId, { kind: "lock", jobHash, resolve }));
  }

  #publishToBook(providerId: string): void {
    const record = this.#cache.get(providerId)?.record;
    const entry = this.#book.get(providerId);
    if (entry) this.#book.setCommitted(providerId, countedUsage(record, entry.offer.nonce, this.#now()));
    let earliest = Infinity;
    if (record) for (const r of Object.values(record.reservations)) if (endOf(r) > this.#now() && endOf(r) < earliest) earliest = endOf(r);
    if (earliest === Infinity) this.#expiries.delete(providerId);
    else this.#expiries.set(providerId, earliest);
  }

  /** Pending reservations stop counting when their window ends, with no write: the book is told here. */
  refreshExpired(): void {
    const now = this.#now();
    for (const [providerId, until] of this.#expiries) if (until <= now) this.#publishToBook(providerId);
  }

  #enqueue(providerId: string, op: Op): void {
    let queue = this.#queues.get(providerId);
    if (!queue) {
      queue = [];
      this.#queues.set(providerId, queue);
    }
    queue.push(op);
    if (!this.#running.has(providerId)) void this.#drain(providerId);
  }

  async #drain(providerId: string): Promise<void> {
    this.#running.add(providerId);
    try {
      for (;;) {
        const queue = this.#queues.get(providerId);
        if (!queue || queue.length === 0) break;
        const ops = queue.splice(0);
        await this.#apply(providerId, ops).catch((error: unknown) => {
          // The KV is unreachable: every op of the batch fails, nothing was written. A confirmation must not read
          // as "too late" (that would lapse a match confirmed in time): its caller gets the error and retries.
          for (const op of ops) {
            if (op.kind === "confirm") op.reject(error);
            else op.resolve(false);
          }
        });
      }
    } finally {
      this.#running.delete(providerId);
      this.#queues.delete(providerId);
    }
  }

  async #apply(providerId: string, ops: Op[]): Promise<void> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const now = this.#now();
      const entry = this.#book.get(providerId);
      const cached = this.#cache.get(providerId);
      // A copy of the reservation map only: the ops below replace or delete reservations, never change one in
      // place, so the cached record stays as the server has it (a record holds one reservation per held job).
      const base: CapacityRecord = cached ? { ...cached.record, reservations: { ...cached.record.reservations } } : { v: 1, providerId, reservations: {} };
      const offerNonce = entry?.offer.nonce ?? "0";
      // Garbage-collect what no longer counts, so records stay small; not a reservation this batch confirms:
      // its confirmation may have been stored in time and only be handled now.
      const confirming = new Set(ops.filter((op) => op.kind === "confirm").map((op) => op.jobHash));
      for (const [k, r] of Object.entries(base.reservations)) if (!confirming.has(k) && !counts(r, offerNonce, now)) delete base.reservations[k];
      const used = countedUsage(base, offerNonce, now);
      const usedGpus = new Set(used.gpuIndices);
      /** Adds a reservation written in this batch to what the later ops of the batch see as used. */
      const count = (usage: Usage) => {
        used.cpuCores += usage.cpuCores;
        used.memoryMiB += usage.memoryMiB;
        used.diskGiB += usage.diskGiB;
        for (const g of usage.gpuIndices) usedGpus.add(g);
      };
      const outcome: boolean[] = [];
      let dirty = false;
      for (const op of ops) {
        const existing = base.reservations[op.jobHash];
        if (op.kind === "reserve") {
          const res = entry?.offer.resources;
          const fits =
            !!res &&
            !existing &&
            entry.offer.expiresAt > now &&
            used.cpuCores + op.usage.cpuCores <= res.cpuCores &&
            used.memoryMiB + op.usage.memoryMiB <= res.memoryMiB &&
            used.diskGiB + op.usage.diskGiB <= res.diskGiB &&
            op.usage.gpuIndices.every((g) => g < res.gpus.length && !usedGpus.has(g));
          if (fits) {
            base.reservations[op.jobHash] = {
              matchId: op.matchId,
              offerNonce,
              cpuCores: op.usage.cpuCores,
              memoryMiB: op.usage.memoryMiB,
              diskGiB: op.usage.diskGiB,
              gpuIndices: op.usage.gpuIndices,
              until: op.until,
              state: "pending",
              deadline: op.hold.deadline,
              lockWindowMs: op.hold.lockWindowMs,
            };
            count(op.usage);
            dirty = true;
          }
          outcome.push(fits);
        } else if (op.kind === "release") {
          // Gone already (lapsed and collected above) counts as released.
          const ok = !existing || op.matchId === undefined || existing.matchId === op.matchId;
          if (existing && ok) {
            delete base.reservations[op.jobHash];
            dirty = true;
          }
          outcome.push(ok);
        } else if (op.kind === "lock") {
          // A lock report may overtake the confirmation's handling: a pending reservation is marked and keeps its
          // confirmation window; its confirmation then holds it to the deadline.
          const ok = !!existing;
          if (ok && !existing.locked) {
            base.reservations[op.jobHash] = { ...existing, locked: true, until: existing.state === "confirmed" ? (existing.deadline ?? existing.until) : existing.until };
            dirty = true;
          }
          outcome.push(ok);
        } else {
          const same = existing?.matchId === op.matchId ? existing : undefined;
          if (same?.state !== "confirmed") {
            // Counted until the provider's next offer, which is expected to leave this job's resources out, and
            // at most until the lock window ends.
            const hold = { ...op.hold, ...(same ? pickDefined(same) : {}) };
            const kept = same ?? { matchId: op.matchId, cpuCores: op.usage.cpuCores, memoryMiB: op.usage.memoryMiB, diskGiB: op.usage.diskGiB, gpuIndices: op.usage.gpuIndices, deadline: op.hold.deadline, lockWindowMs: op.hold.lockWindowMs };
            base.reservations[op.jobHash] = { ...kept, state: "confirmed", offerNonce, until: same?.locked ? hold.deadline : lockBy(op.at, hold) };
            if (!same) count(op.usage);
            dirty = true;
          }
          outcome.push(true);
        }
      }
      if (!dirty) {
        // Nothing to write, but time may have moved reservations out of the count: show the book.
        this.#publishToBook(providerId);
        ops.forEach((op, i) => op.resolve(outcome[i]!));
        return;
      }
      const value = encoder.encode(JSON.stringify(base));
      try {
        const revision = cached ? await this.#kv.update(providerId, value, cached.revision) : await this.#kv.create(providerId, value);
        const current = this.#cache.get(providerId);
        if (!current || current.revision < revision) this.#cache.set(providerId, { record: base, revision });
        this.#publishToBook(providerId);
        ops.forEach((op, i) => op.resolve(outcome[i]!));
        return;
      } catch (error) {
        if (!isNtxError(error, "KV_CONFLICT") && !isNtxError(error, "KV_EXISTS")) throw error;
        this.#metrics.casConflicts.inc();
        // Someone else wrote first: take their record and decide again.
        const fresh = await this.#kv.get(providerId);
        if (fresh) this.observe(providerId, fresh.value, fresh.revision);
        else this.#cache.delete(providerId);
      }
    }
    throw new NtxError("MARKET_CAS_EXHAUSTED", `capacity of ${providerId} kept changing; gave up after ${MAX_CAS_ROUNDS} rounds`, { retryable: true });
  }
}
