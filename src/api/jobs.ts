/**
 * What the market and the chain know about one job. The lock transaction takes every money-relevant value
 * (payout address, proof key, price, deadline) from here — from the stored match, whose embedded offer and bid
 * are re-verified — and never from the browser.
 */
import type { EscrowUtxo } from "../../offchain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { decodeBid, jsonOf, Match, offerDigest, readJobState, verifyProviderDigest, type JobRecord, type StoredMatch } from "../market/index.js";
import type { ApiContext } from "./context.js";

/**
 * The market's current record of a job (job-state.ts: the KV record, or a newer stored match) and the job's last
 * stored match, from one read of each. Both null when the market has neither, or what it has does not parse.
 */
export async function jobState(ctx: ApiContext, jobHash: string): Promise<{ record: JobRecord | null; match: StoredMatch | null }> {
  let state;
  try {
    state = await readJobState(ctx.transport, jobHash);
  } catch (error) {
    throw new NtxError("NATS_UNAVAILABLE", `reading the job record: ${(error as Error).message}`, { retryable: true, cause: error });
  }
  return state && state !== "corrupt" ? { record: state.record, match: state.match } : { record: null, match: null };
}

/** The current match of a matched/confirmed job, with its offer's and bid's signatures checked again. */
export async function verifiedMatch(ctx: ApiContext, jobHash: string): Promise<{ match: Match; record: JobRecord }> {
  const { record, match: stored } = await jobState(ctx, jobHash);
  if (!record) {
    const bid = await ctx.feed.lastBid(jobHash);
    if (!bid) throw new NtxError("JOB_NOT_FOUND", `no bid or job ${jobHash} is known to the market`);
    throw new NtxError("JOB_NOT_MATCHED", `job ${jobHash} has no match yet; wait for one before locking`, { retryable: true });
  }
  if (record.state !== "matched" && record.state !== "confirmed") {
    throw new NtxError("JOB_NOT_MATCHED", `job ${jobHash} is ${record.state}, not matched: nothing to lock`, { retryable: record.state === "lapsed", details: { state: record.state } });
  }
  const parsed = stored ? Match.safeParse(jsonOf(stored.data)) : undefined;
  if (!parsed?.success || parsed.data.matchId !== record.matchId) {
    throw new NtxError("JOB_NOT_MATCHED", `the match ${record.matchId ?? "?"} of job ${jobHash} is not stored yet; retry shortly`, { retryable: true });
  }
  const match = parsed.data;
  if (match.jobHash !== jobHash || match.offer.providerId !== record.providerId) throw new NtxError("MARKET_MALFORMED", "the stored match does not belong to this job record");
  // The matcher holds no key: the payout address is trusted only because the provider signed it.
  if (!verifyProviderDigest(offerDigest(match.offer), match.offer.signature, match.offer.providerId)) {
    throw new NtxError("MARKET_BAD_SIGNATURE", "the matched offer's signature is not its provider's: refusing to lock money for it");
  }
  const bidJson = JSON.stringify(match.bid, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  const bid = decodeBid(bidJson, { now: Math.min(match.matchedAt, match.bid.expiresAt - 1) });
  if (!bid.ok || bid.value.jobHash !== jobHash) throw new NtxError("MARKET_BAD_SIGNATURE", `the matched bid does not verify: ${bid.ok ? "other job" : bid.message}`);
  if (match.price > match.bid.maxPrice) throw new NtxError("MARKET_MALFORMED", "the match price is above the bid's maximum");
  return { match, record };
}

export async function escrowsOfJob(ctx: ApiContext, jobHash: string): Promise<EscrowUtxo[]> {
  const scan = await ctx.escrows.scan();
  return scan.escrows.filter((e) => e.datum.jobHash === jobHash);
}

export function escrowView(e: EscrowUtxo) {
  const state = e.datum.state;
  return {
    outRef: `${e.utxo.txHash}#${e.utxo.outputIndex}`,
    jobHash: e.datum.jobHash,
    amount: e.datum.amount.toString(),
    ntxHeld: e.ntxHeld.toString(),
    funded: e.funded,
    payout: e.datum.payout,
    deadline: e.datum.deadline,
    challengeWindow: e.datum.challengeWindow,
    state: state.kind,
    ...(state.kind === "completed" ? { resultHash: state.resultHash, completedAt: state.completedAt, claimableAt: state.completedAt + e.datum.challengeWindow } : {}),
  };
}
