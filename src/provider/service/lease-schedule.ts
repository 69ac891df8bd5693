import { leaseOwed } from "../../../offchain/lease-datum.js";
import type { ObservedLease } from "./types.js";

/**
 * When to claim, warn and stop, as pure arithmetic over one lease (the keeper acts on it). A provider never runs
 * time nobody pays for: it stops `stopMarginMs` before the funds or the lease end run out, and warns the buyer
 * `noticeMs` before that.
 */

export interface ScheduleParams {
  /** Claim once this long has passed since the last claim... */
  claimIntervalMs: number;
  /** ...or once this much has accrued, whichever comes first (a claim costs a fee: don't claim dust). */
  minClaim: bigint;
  /** Stop this long before the paid time ends (a claim or a stop can take this long to land). */
  stopMarginMs: number;
}

export interface LeasePlan {
  /** What a claim now would take: floor(rate × ms since the last claim / 1000), capped at the balance and the end. */
  accrued: bigint;
  /** POSIX ms up to which the lease pays: its funds or its end, whichever comes first. */
  paidUntil: number;
  stopAt: number;
  noticeAt: number;
  claimNow: boolean;
  noticeNow: boolean;
  stopNow: boolean;
}

/** The validator's own rule (offchain/lease-datum.ts leaseOwed), so the keeper never expects more than a claim pays. */
export function accrued(lease: ObservedLease, nowMs: number): bigint {
  return leaseOwed({ rate: lease.ratePerSecond, lastClaim: lease.lastClaimMs, end: lease.endMs }, lease.balance, nowMs);
}

export function paidUntil(lease: ObservedLease): number {
  if (lease.ratePerSecond <= 0n) return lease.endMs;
  const ms = (lease.balance * 1000n) / lease.ratePerSecond;
  // A balance worth more time than a timestamp holds is bounded by the end anyway.
  const funded = ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : lease.lastClaimMs + Number(ms);
  return Math.min(funded, lease.endMs);
}

export function planLease(lease: ObservedLease, nowMs: number, params: ScheduleParams): LeasePlan {
  const owed = accrued(lease, nowMs);
  const until = paidUntil(lease);
  const stopAt = until - params.stopMarginMs;
  const noticeAt = stopAt - lease.noticeMs;
  const stopNow = nowMs >= stopAt;
  const claimNow = owed > 0n && (stopNow || owed >= params.minClaim || nowMs - lease.lastClaimMs >= params.claimIntervalMs);
  return { accrued: owed, paidUntil: until, stopAt, noticeAt, claimNow, noticeNow: nowMs >= noticeAt, stopNow };
}
