import { NtxError } from "../../offchain/errors.js";
import type { ObservedEscrow } from "./types.js";

/** What this provider signed into its offer about escrows (Offer.terms, DESIGN §4). */
export interface ProviderEscrowTerms {
  /** Arbiters it accepts; [] = none. */
  arbiters: readonly string[];
  maxChallengeWindowMs: number;
  /** The escrow deadline may lie at most this far after the match. */
  maxDeadlineMs: number;
}

/** What the matched bid asked for (Bid.terms): the datum must say exactly this. */
export interface BidEscrowTerms {
  challengeWindowMs: number;
  arbiter?: string | undefined;
}

export interface EscrowExpectation {
  jobHash: string;
  /** The matched price, NTX base units. */
  price: bigint;
  /** This provider's payout address (bech32) and proof key (33-byte compressed, hex). */
  payout: string;
  proofKey: string;
  /** Chain time now, POSIX ms. */
  now: number;
  /** The job must be able to run to its timeout and still complete before the deadline. */
  needMs: number;
  terms: ProviderEscrowTerms;
  bid: BidEscrowTerms;
  /** When the match was made: the deadline horizon counts from it. */
  matchedAt: number;
}

/** Every reason this escrow is not one this provider works for; empty when it is. */
export function escrowProblems(e: ObservedEscrow, want: EscrowExpectation): string[] {
  const problems: string[] = [];
  if (e.state.kind !== "locked") return [`state ${e.state.kind}`];
  if (e.proofKey !== want.proofKey) problems.push(`proof key ${e.proofKey} is not this provider's`);
  if (e.payout !== want.payout) problems.push(`pays ${e.payout}, not this provider`);
  if (e.amount < want.price || e.ntxInValue < want.price) problems.push(`holds ${e.ntxInValue} NTX (datum says ${e.amount}), price is ${want.price}`);
  else if (e.ntxInValue < e.amount) problems.push(`value ${e.ntxInValue} is below the datum amount ${e.amount}`);
  // An arbiter decides any split after the work is done: only one the provider accepts, and the one the bid named.
  const bidArbiter = want.bid.arbiter ?? null;
  if (e.arbiter !== bidArbiter) problems.push(`arbiter ${e.arbiter ?? "none"} differs from the bid's ${bidArbiter ?? "none"}`);
  else if (e.arbiter !== null && !want.terms.arbiters.includes(e.arbiter)) problems.push(`arbiter ${e.arbiter} is not one this provider accepts`);
  if (e.challengeWindow !== want.bid.challengeWindowMs) problems.push(`challenge window ${e.challengeWindow} ms differs from the bid's ${want.bid.challengeWindowMs} ms`);
  else if (e.challengeWindow > want.terms.maxChallengeWindowMs) problems.push(`challenge window ${e.challengeWindow} ms exceeds this provider's ${want.terms.maxChallengeWindowMs} ms`);
  if (e.deadline > want.matchedAt + want.terms.maxDeadlineMs) problems.push(`deadline ${iso(e.deadline)} lies beyond this provider's horizon ${iso(want.matchedAt + want.terms.maxDeadlineMs)}`);
  else if (e.deadline <= want.now + want.needMs) problems.push(`deadline ${iso(e.deadline)} leaves too little time`);
  if (e.lovelace < e.minLovelace) problems.push(`holds ${e.lovelace} lovelace, less than the ${e.minLovelace} its Completed state needs`);
  return problems;
}

function iso(ms: number): string {
  return Number.isFinite(ms) && ms <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/**
 * Picks the escrow that pays for this job, or says precisely why none does. Missing is retryable (the lock tx
 * may not be in a block yet); short, wrong or expiring escrows are not, and the job is refused.
 */
export function checkEscrow(candidates: readonly ObservedEscrow[], want: EscrowExpectation): ObservedEscrow {
  const mine = candidates.filter((e) => e.jobHash === want.jobHash);
  if (mine.length === 0) throw new NtxError("ESCROW_NOT_FOUND", `no escrow output for job ${want.jobHash} on-chain yet`, { retryable: true });
  const problems: string[] = [];
  for (const e of mine) {
    const found = escrowProblems(e, want);
    if (found.length === 0) return e;
    problems.push(`${e.outRef.txHash}#${e.outRef.outputIndex}: ${found.join(", ")}`);
  }
  const short = problems.some((p) => p.includes("price is"));
  throw new NtxError(short ? "ESCROW_SHORT" : "ESCROW_INVALID", `escrow for job ${want.jobHash} is not acceptable: ${problems.join("; ")}`, {
    details: { problems },
  });
}
