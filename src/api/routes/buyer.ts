/**
 * The buyer's side of the API beyond bidding: where a job stands and what comes next (its phase), the wallet's
 * jobs found again from the chain, the job's result archive, a funds check before a bid is signed, and the
 * settlement transactions (accept, dispute, refund) built for a browser wallet like the lock is.
 */
import { calculateMinLovelaceFromUTxO } from "@lucid-evolution/lucid";
import { Router } from "express";
import { z } from "zod/v4";
import { paymentCredentialOfAddress } from "../../../offchain/chain/index.js";
import { completedMinLovelace, ntxUnit, type EscrowDatum, type EscrowUtxo } from "../../../offchain/index.js";
import { NtxError } from "../../../offchain/errors.js";
import { Bid, jobPrice, jsonOf, Match, type JobResources } from "../../market/index.js";
import { jobEventsSubject, openResultStore, StreamNames } from "../../nats/index.js";
import { normalizeAddress } from "../address.js";
import type { ApiContext } from "../context.js";
import { escrowsOfJob, escrowView, jobState } from "../jobs.js";
import { AddressParams, AddressText, JobHashParams } from "../schemas.js";
import { parseRequest } from "../validate.js";
import { deploymentRefs } from "../../runtime/tx-pool/builders.js";
import { refineBuildError, walletFunds } from "../wallet-tx.js";
import { jobPhase, JobAction, JobPhase } from "./job-phase.js";

const HashHex = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters");
const Units = z.string().regex(/^[0-9]{1,39}$/, "a whole number of base units");
const WalletUtxos = z.array(z.string().regex(/^([0-9a-f]{2})+$/i, "CBOR hex").max(32_768)).max(500);

export const SettleRequest = z.object({ address: AddressText, utxos: WalletUtxos.min(1, "the wallet has no UTxOs (fund it first)"), jobHash: HashHex }).strict();
export const FundsRequest = z.object({ address: AddressText, utxos: WalletUtxos, maxPrice: Units }).strict();

export const JobStatusResponse = z.object({
  jobHash: HashHex,
  phase: JobPhase,
  next: z.string(),
  at: z.number().nullable(),
  atLabel: z.string(),
  actions: z.array(JobAction),
  lockable: z.boolean(),
  price: Units.nullable(),
  maxPrice: Units.nullable(),
  /** Cheapest price of an online offer that fits the job, when the bid's max price is below it. */
  bestOfferPrice: Units.nullable(),
  deadline: z.number().nullable(),
  escrow: z.object({ outRef: z.string(), state: z.string(), amount: Units, lovelace: Units, deadline: z.number(), claimableAt: z.number().nullable(), completedAt: z.number().nullable(), arbiter: z.string().nullable(), resultHash: z.string().nullable() }).nullable(),
  resultHash: HashHex.nullable(),
  provider: z.object({ providerId: z.string(), region: z.string(), confirmed: z.boolean() }).nullable(),
  attempt: z.number(),
});
export type JobStatusResponse = z.infer<typeof JobStatusResponse>;

const SETTLED_RECHECK_MS = 1_500;
/** Largest result archive this API hands out in one response (the provider's output cap is far below). */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;
/** ADA kept aside for a transaction's fee when checking funds before a bid (a lock's fee is ~0.2 ADA). */
const FEE_ALLOWANCE = 500_000n;

/** NTX display decimals: as the token registry defines NuNet's NTX (6); the devnet's test NTX follows it. */
export function ntxDecimals(env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.NTX_DECIMALS ?? 6);
  return Number.isInteger(configured) && configured >= 0 && configured <= 18 ? configured : 6;
}

function cheapestFit(ctx: ApiContext, resources: JobResources, durationMs: number): bigint | null {
  let best: bigint | null = null;
  for (const { offer } of ctx.book.list({ limit: 1000 })) {
    const r = offer.resources;
    if (r.cpuCores < resources.cpuCores || r.memoryMiB < resources.memoryMiB || r.diskGiB < resources.diskGiB) continue;
    if ((resources.gpu?.count ?? 0) > r.gpus.length) continue;
    const price = jobPrice(offer.prices, resources, durationMs);
    if (best === null || price < best) best = price;
  }
  return best;
}

/** What the asking page saw itself: the lock it submitted, and whether it saw the escrow completed. */
export const StatusQuery = z.object({ lockTx: HashHex.optional(), seenCompleted: z.literal("1").optional() }).strict();

async function jobStatus(ctx: ApiContext, jobHash: string, hints: z.infer<typeof StatusQuery>, settledCheck = true): Promise<JobStatusResponse> {
  const { lockTx } = hints;
  const [{ record, match }, bidMsg, history] = await Promise.all([jobState(ctx, jobHash), ctx.feed.lastBid(jobHash), ctx.feed.history(StreamNames.jobEvents, jobEventsSubject(jobHash), 500)]);
  const escrows = await escrowsOfJob(ctx, jobHash);
  if (!record && !bidMsg && escrows.length === 0) throw new NtxError("JOB_NOT_FOUND", `no bid or job ${jobHash} is known to the market or the chain`);
  const parsedBid = bidMsg ? Bid.safeParse(jsonOf(bidMsg.data)) : undefined;
  const bid = parsedBid?.success ? parsedBid.data : null;
  const events = history.map((m) => jsonOf(m.data) as { kind?: unknown; resultHash?: unknown } | undefined);
  const kinds = events.map((e) => (typeof e?.kind === "string" ? e.kind : "")).filter(Boolean);
  const escrow = escrows.find((e) => e.funded) ?? escrows[0] ?? null;
  const view = escrow ? escrowView(escrow) : null;
  const now = ctx.now();
  const parsedMatch = match ? Match.safeParse(jsonOf(match.data)) : undefined;
  const current = parsedMatch?.success && parsedMatch.data.matchId === record?.matchId ? parsedMatch.data : null;
  // The page names the lock it submitted: once its escrow is spent, that is how a refund is told from "never locked".
  const lockedBefore = !escrow && lockTx !== undefined && (await ctx.chain.txStatus(lockTx).catch(() => null))?.state === "confirmed";
  const lockWindowMs = current?.offer.terms?.lockWindowMs;
  const phase = jobPhase({
    lockedBefore,
    lockBy: record?.state === "confirmed" && record.confirmedAt !== undefined && lockWindowMs !== undefined ? record.confirmedAt + lockWindowMs : null,
    now,
    record: record ? { state: record.state, confirmBy: record.confirmBy, confirmedAt: record.confirmedAt } : null,
    bid: bid ? { expiresAt: bid.expiresAt, deadline: bid.deadline } : null,
    events: hints.seenCompleted && !escrow ? [...kinds, "completed"] : kinds,
    escrow: escrow && view ? { state: escrow.datum.state.kind as "locked" | "completed" | "disputed", funded: escrow.funded, deadline: escrow.datum.deadline, claimableAt: view.claimableAt, arbiter: escrow.datum.arbiter } : null,
  });
  const price = record?.price ?? current?.price.toString() ?? null;
  let bestOfferPrice: string | null = null;
  if (bid && (phase.phase === "waiting" || phase.phase === "lapsed" || phase.phase === "expired")) {
    const best = cheapestFit(ctx, bid.spec.resources, bid.spec.maxDurationMs);
    if (best !== null && best > bid.maxPrice) bestOfferPrice = best.toString();
  }
  // "Paid" and "refunded" are read from an escrow's absence: a read taken while a Complete replaces the escrow
  // can miss it, so a settled answer is only given when a second read a moment later agrees.
  if (settledCheck && (phase.phase === "paid" || phase.phase === "refunded")) {
    await new Promise((r) => setTimeout(r, SETTLED_RECHECK_MS));
    return jobStatus(ctx, jobHash, hints, false);
  }
  const eventResult = events.map((e) => (typeof e?.resultHash === "string" ? e.resultHash : null)).filter(Boolean).pop() ?? null;
  return {
    jobHash,
    ...phase,
    lockable: phase.actions.includes("lock"),
    price: price ?? (view ? view.amount : null),
    maxPrice: bid ? bid.maxPrice.toString() : null,
    bestOfferPrice,
    deadline: escrow?.datum.deadline ?? bid?.deadline ?? null,
    escrow: escrow && view
      ? {
          outRef: view.outRef,
          state: view.state,
          amount: view.amount,
          lovelace: (escrow.utxo.assets.lovelace ?? 0n).toString(),
          deadline: view.deadline,
          claimableAt: view.claimableAt ?? null,
          completedAt: view.completedAt ?? null,
          arbiter: escrow.datum.arbiter,
          resultHash: view.resultHash ?? null,
        }
      : null,
    resultHash: view?.resultHash ?? eventResult,
    provider: record?.providerId ? { providerId: record.providerId, region: current?.offer.region ?? "", confirmed: record.state === "confirmed" } : null,
    attempt: record?.attempt ?? 0,
  };
}

/** The funded escrow of a job, in the state an action needs, with a plain reason when it is not there. */
async function escrowFor(ctx: ApiContext, jobHash: string, action: "accept" | "dispute" | "refund"): Promise<EscrowUtxo> {
  const escrows = (await escrowsOfJob(ctx, jobHash)).filter((e) => e.funded);
  if (escrows.length === 0) throw new NtxError("ESCROW_NOT_FOUND", `job ${jobHash} has no escrow on the chain: it was never locked, or it is already settled`);
  const want = action === "refund" ? "locked" : "completed";
  const escrow = escrows.find((e) => e.datum.state.kind === want);
  if (!escrow) {
    const state = escrows[0]!.datum.state.kind;
    const why = action === "refund" ? `the job is ${state}, so it cannot be refunded` : `the job is ${state}: only a completed job can be ${action === "accept" ? "accepted" : "disputed"}`;
    throw new NtxError("ESCROW_STATE", why, { details: { state } });
  }
  return escrow;
}

async function buildSettle(ctx: ApiContext, action: "accept" | "dispute" | "refund", request: z.infer<typeof SettleRequest>) {
  const escrow = await escrowFor(ctx, request.jobHash, action);
  const address = normalizeAddress(request.address, ctx.mainnet);
  const credential = paymentCredentialOfAddress(address);
  if (credential.hash !== escrow.datum.requester) {
    throw new NtxError("NOT_THE_BUYER", "this wallet did not lock this job: only the wallet that paid can accept, dispute or refund it");
  }
  const [{ wallet }, deployment] = await Promise.all([walletFunds(ctx, address, request.utxos), ctx.deployment()]);
  const tx = await ctx.builds.build(action, { wallet, ntx: ctx.script.ntx, refs: deploymentRefs(deployment), escrow, now: ctx.now() }).catch(refineBuildError);
  return {
    ...tx,
    escrow: { outRef: `${escrow.utxo.txHash}#${escrow.utxo.outputIndex}`, amount: escrow.datum.amount.toString(), lovelace: (escrow.utxo.assets.lovelace ?? 0n).toString() },
  };
}

/** The ledger's min-ADA of one output (what an output holding tokens and a datum must carry). */
async function minAda(ctx: ApiContext, address: string, assets: Record<string, bigint>, datum?: string): Promise<bigint> {
  const lucid = await ctx.chain.lucid();
  const coinsPerUtxoByte = lucid.config().protocolParameters?.coinsPerUtxoByte;
  if (coinsPerUtxoByte === undefined) throw new NtxError("CHAIN_UNAVAILABLE", "the chain's protocol parameters are not known yet", { retryable: true });
  return calculateMinLovelaceFromUTxO(coinsPerUtxoByte, { txHash: "00".repeat(32), outputIndex: 0, address, assets: { lovelace: 10_000_000n, ...assets }, ...(datum ? { datum } : {}) });
}

/** Min-ADA a lock puts in the escrow (returned to the buyer at settlement) for a job costing `amount`. */
async function lockLovelace(ctx: ApiContext, amount: bigint): Promise<bigint> {
  const key = "00".repeat(28);
  // The lock builder's own figure, for the largest datum a job can have (an arbiter named, widest times).
  const datum: EscrowDatum = {
    state: { kind: "locked" },
    requester: key,
    payout: ctx.script.address,
    proofKey: "02" + "00".repeat(32),
    jobHash: "00".repeat(32),
    amount,
    deadline: Number.MAX_SAFE_INTEGER,
    challengeWindow: Number.MAX_SAFE_INTEGER,
    arbiter: key,
  };
  return completedMinLovelace(await ctx.chain.lucid(), ctx.script, datum, ntxUnit(ctx.script.ntx));
}

export function buyerRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.get("/buyer/config", async (_req, res) => {
    // The escrow's min-ADA barely depends on the amount: one estimate for a large one is what the page shows.
    const lockLovelaceEstimate = await lockLovelace(ctx, 10n ** 15n);
    res.json({ ntxDecimals: ntxDecimals(), challengeWindowMs: ctx.challengeWindowMs, feeAllowance: FEE_ALLOWANCE.toString(), lockLovelace: lockLovelaceEstimate.toString() });
  });

  router.get("/jobs/:jobHash/status", async (req, res) => {
    const { jobHash } = parseRequest(JobHashParams, req.params, "params");
    res.json(await jobStatus(ctx, jobHash, parseRequest(StatusQuery, req.query, "query")));
  });

  router.get("/jobs/:jobHash/result", async (req, res) => {
    const { jobHash } = parseRequest(JobHashParams, req.params, "params");
    let blob: Uint8Array | null;
    try {
      const store = await openResultStore(ctx.nc);
      const info = await store.info(jobHash);
      if (info && info.size > MAX_RESULT_BYTES) throw new NtxError("RESULT_TOO_LARGE", `the result of ${jobHash} is ${info.size} bytes, over the ${MAX_RESULT_BYTES} this API hands out`);
      blob = info && !info.deleted ? await store.getBlob(jobHash) : null;
    } catch (error) {
      if (error instanceof NtxError) throw error;
      throw new NtxError("NATS_UNAVAILABLE", `reading the result: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    if (!blob) throw new NtxError("RESULT_NOT_FOUND", `no result is stored for job ${jobHash} yet`);
    res.setHeader("content-type", "application/x-tar");
    res.setHeader("content-disposition", `attachment; filename="${jobHash.slice(0, 16)}.tar"`);
    res.send(Buffer.from(blob));
  });

  /** Jobs this wallet locked, as the chain has them (requester = the address's payment key). */
  router.get("/wallet/:address/jobs", async (req, res) => {
    const { address: text } = parseRequest(AddressParams, req.params, "params");
    const address = normalizeAddress(text, ctx.mainnet);
    const requester = paymentCredentialOfAddress(address).hash;
    const scan = await ctx.escrows.scan();
    res.json({ address, escrows: scan.escrows.filter((e) => e.datum.requester === requester).map(escrowView) });
  });

  /** Checked before the bid is signed: the wallet's UTxOs, as the chain has them, pay the max price and the lock. */
  router.post("/buyer/funds", async (req, res) => {
    const body = parseRequest(FundsRequest, req.body ?? {}, "body");
    const maxPrice = BigInt(body.maxPrice);
    if (body.utxos.length === 0) throw new NtxError("WALLET_NO_UTXOS", "this wallet has no funds on this network yet");
    const { wallet: { utxos, address } } = await walletFunds(ctx, body.address, body.utxos);
    const unit = ntxUnit(ctx.script.ntx);
    const ntx = utxos.reduce((s, u) => s + (u.assets[unit] ?? 0n), 0n);
    const lovelace = utxos.reduce((s, u) => s + (u.assets.lovelace ?? 0n), 0n);
    const lovelaceForLock = await lockLovelace(ctx, maxPrice);
    // The NTX left over goes back to the wallet in an output that must carry its own min-ADA.
    const changeLovelace = ntx > 0n ? await minAda(ctx, address, { [unit]: ntx }) : 0n;
    const needLovelace = lovelaceForLock + FEE_ALLOWANCE + changeLovelace;
    const details = { ntx: ntx.toString(), lovelace: lovelace.toString(), needNtx: maxPrice.toString(), needLovelace: needLovelace.toString(), lockLovelace: lovelaceForLock.toString(), changeLovelace: changeLovelace.toString() };
    if (ntx < maxPrice) throw new NtxError("INSUFFICIENT_NTX", "not enough NTX for this bid's max price", { details });
    if (lovelace < needLovelace) throw new NtxError("INSUFFICIENT_FUNDS", "not enough ADA for the lock's min-ADA, fee and NTX change", { details });
    res.json({ ok: true, ...details });
  });

  for (const action of ["accept", "dispute", "refund"] as const) {
    router.post(`/tx/${action}`, async (req, res) => {
      const body = parseRequest(SettleRequest, req.body ?? {}, "body");
      res.json(await buildSettle(ctx, action, body));
    });
  }

  return router;
}
