import { NtxError } from "../../offchain/errors.js";
import type { ObservedEscrow } from "./types.js";

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
    const ref = `${e.outRef.txHash}#${e.outRef.outputIndex}`;
    if (e.state.kind !== "locked") { problems.push(`${ref}: state ${e.state.kind}`); continue; }
    if (e.proofKey !== want.proofKey) { problems.push(`${ref}: proof key ${e.proofKey} is not this provider's`); continue; }
    if (e.payout !== want.payout) { problems.push(`${ref}: pays ${e.payout}, not this provider`); continue; }
    if (e.amount < want.price || e.ntxInValue < want.price) {
      problems.push(`${ref}: holds ${e.ntxInValue} NTX (datum says ${e.amount}), price is ${want.price}`);
      continue;
    }
    if (e.ntxInValue < e.amount) { problems.push(`${ref}: value ${e.ntxInValue} is below the datum amount ${e.amount}`); continue; }
    if (e.deadline <= want.now + want.needMs) { problems.push(`${ref}: deadline ${new Date(e.deadline).toISOString()} leaves too little time`); continue; }
    return e;
  }
  const short = problems.some((p) => p.includes("price is"));
  throw new NtxError(short ? "ESCROW_SHORT" : "ESCROW_INVALID", `escrow for job ${want.jobHash} is not acceptable: ${problems.join("; ")}`, {
    details: { problems },
  });
}
