import type { ObservedLease } from "./types.js";

/**
 * When to claim, warn and stop, as pure arithmetic over one lease (the keeper acts on it). A provider never runs
 * time nobody pays for: it stops `stopMarginMs` before the funds or the lease end run out, and warns the buyer
 * `noticeMs` before that.
 */

export interface ScheduleParams {
  slotMs: number;
  /** Claim once this long has passed since the last claim... */
  claimIntervalMs: number;
  /** ...or once this much has accrued, whichever comes first (a claim costs a fee: don't claim dust). */
  minClaim: bigint;
  /** Stop this long before the paid time ends (a claim or a stop can take this long to land). */
  stopMarginMs: number;
}

export interface LeasePlan {
  /** What a claim now would take: rate × whole slots since the last claim, capped at the balance and the end. */
  accrued: bigint;
  /** POSIX ms up to which the lease pays: its funds or its end, whichever comes first. */
  paidUntil: number;
  stopAt: number;
  noticeAt: number;
  claimNow: boolean;
  noticeNow: boolean;
  stopNow: boolean;
}

export function accrued(lease: ObservedLease, nowMs: number, slotMs: number): bigint {
  const upTo = Math.min(nowMs, lease.endMs);
  if (upTo <= lease.lastClaimMs) return 0n;
  const slots = BigInt(Math.floor((upTo - lease.lastClaimMs) / slotMs));
  const owed = lease.ratePerSlot * slots;
  return owed < lease.balance ? owed : lease.balance;
}

export function paidUntil(lease: ObservedLease, slotMs: number): number {
  if (lease.ratePerSlot <= 0n) return lease.endMs;
  const slots = lease.balance / lease.ratePerSlot;
  // A balance worth more slots than a timestamp holds is bounded by the end anyway.
  const funded = slots > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : lease.lastClaimMs + Number(slots) * slotMs;
  return Math.min(funded, lease.endMs);
}

export function planLease(lease: ObservedLease, nowMs: number, params: ScheduleParams): LeasePlan {
  const owed = accrued(lease, nowMs, params.slotMs);
  const until = paidUntil(lease, params.slotMs);
  const stopAt = until - params.stopMarginMs;
  const noticeAt = stopAt - lease.noticeMs;
  const stopNow = nowMs >= stopAt;
  const claimNow = owed > 0n && (stopNow || owed >= params.minClaim || nowMs - lease.lastClaimMs >= params.claimIntervalMs);
  return { accrued: owed, paidUntil: until, stopAt, noticeAt, claimNow, noticeNow: nowMs >= noticeAt, stopNow };
}
