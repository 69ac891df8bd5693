/**
 * How the daemon cuts its due escrows into claim transactions, and how it backs off when a claim fails.
 *
 * A claim of many escrows can fail for reasons that have nothing to do with most of them: one escrow the
 * validator refuses, a build over its timeout, a fault of the local evaluator (a 60-escrow build once failed inside
 * the WASM evaluator with "detached ArrayBuffer"). Retrying the same batch would repeat the failure forever and
 * block every payout in it. So each failed batch is halved for the escrows it held, down to single escrows; a
 * single escrow that keeps failing is set aside after a bounded number of attempts, so the others are still paid,
 * and tried alone again after a cool-down that doubles each time (10 minutes up to 6 hours): its NTX is the
 * provider's, and the cause may pass (a load run's one such claim failed for a fault of the transaction builder,
 * since fixed), so it is never given up for good, nor retried more than a few times a day. Every step is reported with its reason. Failures that say the chain or the build
 * pool is unavailable right now are not about the batch: the batch is retried as it is on the next pass.
 */
import { isNtxError, NtxError } from "../../offchain/errors.js";
import { isWalletFundsFailure } from "../runtime/tx-pool/funds-error.js";

/** Codes that mean "not now", not "not this batch": the chain is unreachable or the build thread is full or closing. */
const NOT_ABOUT_THE_BATCH = new Set([
  "BUILD_BUSY",
  "BUILD_CLOSED",
  "CHAIN_UNAVAILABLE",
  "CHAIN_UNREACHABLE",
  "CHAIN_RATE_LIMITED",
  "CHAIN_AUTH_FAILED",
  "CHAIN_CONFIG_INVALID",
  "INSUFFICIENT_FUNDS",
  // One of the wallet's inputs was spent meanwhile (the provider's own Complete): built again from current UTxOs.
  "TX_INPUTS_SPENT",
]);

/** Claims of a single escrow that fail this many times (for a reason about the claim) are set aside. */
export const MAX_SINGLE_CLAIM_ATTEMPTS = 3;
/** The first cool-down of a set-aside escrow, and the longest (it doubles on each further failure). */
export const SET_ASIDE_FIRST_MS = 10 * 60_000;
export const SET_ASIDE_MAX_MS = 6 * 3_600_000;

/**
 * A wallet that cannot pay right now (fees or collateral: its large output held by a Complete not yet in a block,
 * or spread over many small payouts) is not the batch's fault either. Splitting and then giving up on it set aside
 * a paid-for escrow until a restart (a fault run: three claims of one escrow built while the provider's Completes
 * held its large output, "Selected 6 inputs as collateral, but max collateral inputs is 3").
 */
export function isAboutTheBatch(error: unknown): boolean {
  return !((isNtxError(error) && NOT_ABOUT_THE_BATCH.has(error.code)) || isWalletFundsFailure(error));
}

interface Backoff {
  /** The largest claim this escrow may be part of next time. */
  cap: number;
  /** Failed claims of this escrow alone. */
  singleFailures: number;
}

interface SetAside {
  until: number;
  cooldownMs: number;
}

export class ClaimBatches {
  private readonly backoff = new Map<string, Backoff>();
  private readonly setAside = new Map<string, SetAside>();

  constructor(
    private readonly size: number,
    private readonly report: (error: NtxError) => void,
    private readonly maxSingleAttempts = MAX_SINGLE_CLAIM_ATTEMPTS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this escrow's claim is set aside for now (its reason was reported, with when it is tried again). */
  isSetAside(key: string): boolean {
    const entry = this.setAside.get(key);
    return entry !== undefined && this.now() < entry.until;
  }

  /** The batches to try now: escrows with no failure in batches of `size`, the others in batches of their cap. */
  plan<T>(due: T[], keyOf: (item: T) => string): T[][] {
    const dueKeys = new Set(due.map(keyOf));
    // Bounded: a cool-down that ended for an escrow no longer due (paid by its buyer meanwhile) is forgotten.
    for (const [key, entry] of this.setAside) if (entry.until <= this.now() && !dueKeys.has(key)) this.setAside.delete(key);
    const byCap = new Map<number, T[]>();
    for (const item of due) {
      const key = keyOf(item);
      if (this.isSetAside(key)) continue;
      const cap = this.backoff.get(key)?.cap ?? this.size;
      const group = byCap.get(cap) ?? [];
      group.push(item);
      byCap.set(cap, group);
    }
    const batches: T[][] = [];
    // Largest caps first: escrows that never failed are not held back behind those being split.
    for (const cap of [...byCap.keys()].sort((a, b) => b - a)) {
      const group = byCap.get(cap)!;
      for (let i = 0; i < group.length; i += cap) batches.push(group.slice(i, i + cap));
    }
    return batches;
  }

  succeeded(keys: string[]): void {
    for (const key of keys) {
      this.backoff.delete(key);
      this.setAside.delete(key);
    }
  }

  /** Records a failed claim of these escrows: halves their batch, or counts a single escrow's failure. */
  failed(keys: string[], error: unknown): void {
    const reason = isNtxError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    if (!isAboutTheBatch(error)) {
      this.report(new NtxError("CLAIM_DEFERRED", `claim of ${keys.length} escrow(s) not sent (${reason}): retried as it is on the next pass`, { retryable: true, details: { escrows: keys.length } }));
      return;
    }
    if (keys.length > 1) {
      const cap = Math.ceil(keys.length / 2);
      for (const key of keys) this.backoff.set(key, { cap, singleFailures: 0 });
      this.report(new NtxError("CLAIM_BATCH_SPLIT", `claim of ${keys.length} escrows failed (${reason}): next attempt in batches of at most ${cap}`, { retryable: true, details: { escrows: keys.length, nextBatch: cap } }));
      return;
    }
    const key = keys[0]!;
    const entry = this.backoff.get(key) ?? { cap: 1, singleFailures: 0 };
    entry.cap = 1;
    entry.singleFailures++;
    this.backoff.set(key, entry);
    const previous = this.setAside.get(key);
    if (previous || entry.singleFailures >= this.maxSingleAttempts) {
      // Once set aside, one attempt per cool-down; the cool-down doubles each time.
      const cooldownMs = previous ? Math.min(previous.cooldownMs * 2, SET_ASIDE_MAX_MS) : SET_ASIDE_FIRST_MS;
      this.setAside.set(key, { until: this.now() + cooldownMs, cooldownMs });
      const minutes = Math.round(cooldownMs / 60_000);
      this.report(
        new NtxError("CLAIM_SET_ASIDE", `claim of escrow ${key} alone failed ${entry.singleFailures} times (last: ${reason}): set aside, tried again in ${minutes} min; its funds stay in the escrow until then`, {
          retryable: true,
          details: { escrow: key, attempts: entry.singleFailures, retryInMs: cooldownMs },
        }),
      );
      return;
    }
    this.report(new NtxError("CLAIM_RETRY_SINGLE", `claim of escrow ${key} alone failed (${reason}): attempt ${entry.singleFailures} of ${this.maxSingleAttempts}`, { retryable: true, details: { escrow: key, attempts: entry.singleFailures } }));
  }

  /** Counts for logs and metrics. */
  stats(): { splitting: number; setAside: number } {
    return { splitting: this.backoff.size, setAside: [...this.setAside.keys()].filter((key) => this.isSetAside(key)).length };
  }
}
