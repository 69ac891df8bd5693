/** Offers, bids and jobs: the market side of the API, over NATS. */
import { createHash } from "node:crypto";
import { Router } from "express";
import { NtxError } from "../../../offchain/errors.js";
import { bidSigningPayloadHex, decodeBid, decodeJobEvent, jobHash as jobHashOf, jsonOf, Match, REJECT_CODES, UnsignedBid } from "../../market/index.js";
import { jobEventsSubject, StreamNames } from "../../nats/index.js";
import type { ApiContext } from "../context.js";
import { escrowsOfJob, escrowView, jobState } from "../jobs.js";
import { natsError, type JobMessageKind } from "../job-feed.js";
import { JobHashParams, OffersQuery, PostBidRequest, PrepareBidRequest } from "../schemas.js";
import { clientKey } from "../guards/rate-limit.js";
import { openSse, type SseStream } from "../sse.js";
import { parseRequest } from "../validate.js";

const json = (value: unknown) => JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));

/** Express leaves `req.body` undefined when the request was not JSON: say what was expected. */
function jsonBody(body: unknown): unknown {
  if (body === undefined) throw new NtxError("INVALID_REQUEST", "body: expected a JSON object (Content-Type: application/json)");
  return body;
}

/** Live messages of one stream held while its replay is read. */
const LIVE_BUFFER_MAX = 5_000;

export function marketRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.get("/offers", (req, res) => {
    const query = parseRequest(OffersQuery, req.query, "query");
    const entries = ctx.book.list(query);
    res.json({ offers: entries.map((e) => ({ ...json(e.offer), digest: e.digest })), count: entries.length });
  });

  /** The text a wallet signs for a bid (the browser has no blake2b): the same function the verifier uses. */
  router.post("/bids/prepare", (req, res) => {
    const { bid } = parseRequest(PrepareBidRequest, jsonBody(req.body), "body");
    // Validated, but the raw object is what gets hashed: amounts must stay in their wire (string) form.
    parseRequest(UnsignedBid, bid, "body");
    const unsigned = bid as UnsignedBid;
    const payload = bidSigningPayloadHex(unsigned);
    res.json({ jobHash: jobHashOf(unsigned.spec), payload, text: Buffer.from(payload, "hex").toString("utf8") });
  });

  router.post("/bids", async (req, res) => {
    const body = parseRequest(PostBidRequest, jsonBody(req.body), "body");
    const decoded = decodeBid(JSON.stringify(body), { now: ctx.now() });
    if (!decoded.ok) throw new NtxError(REJECT_CODES[decoded.reason], decoded.message, { details: { reason: decoded.reason } });
    const { jobHash, bid } = decoded.value;
    const existing = await ctx.feed.lastBid(jobHash);
    if (existing) {
      const stored = jsonOf(existing.data) as { signature?: { signature?: string } } | undefined;
      if (stored?.signature?.signature === bid.signature.signature) {
        res.status(200).json({ jobHash, seq: existing.seq, duplicate: true });
        return;
      }
      throw new NtxError("JOB_EXISTS", `a bid for this exact job spec (${jobHash}) is already in the market; change the spec (e.g. an env value) to post another`);
    }
    const published = await ctx.client.publishBid(jobHash, body);
    res.status(202).json({ jobHash, seq: published.seq, duplicate: published.duplicate });
  });

  router.get("/jobs/:jobHash", async (req, res) => {
    const { jobHash } = parseRequest(JobHashParams, req.params, "params");
    const [{ record, match: matchMsg }, bidMsg, history] = await Promise.all([jobState(ctx, jobHash), ctx.feed.lastBid(jobHash), ctx.feed.history(StreamNames.jobEvents, jobEventsSubject(jobHash), 200)]);
    if (!record && !bidMsg) throw new NtxError("JOB_NOT_FOUND", `no bid or job ${jobHash} is known to the market`);
    // The market's view of a job stays readable while the chain is out; the escrow part says why it is missing.
    let escrows: Array<ReturnType<typeof escrowView>> = [];
    let chain: { ok: true } | { ok: false; error: { code: string; message: string; retryable: boolean } } = { ok: true };
    try {
      escrows = (await escrowsOfJob(ctx, jobHash)).map(escrowView);
    } catch (error) {
      if (!(error instanceof NtxError) || !error.retryable) throw error;
      chain = { ok: false, error: { code: error.code, message: error.message, retryable: true } };
    }
    const parsedMatch = matchMsg ? Match.safeParse(jsonOf(matchMsg.data)) : undefined;
    const match = parsedMatch?.success ? parsedMatch.data : undefined;
    const events = history.map((m) => jsonOf(m.data)).filter((e) => e !== undefined);
    const last = events[events.length - 1] as { kind?: string; resultHash?: string } | undefined;
    const completedEscrow = escrows.find((e) => e.state === "completed");
    const state = completedEscrow ? "completed" : escrows.some((e) => e.funded) ? (last?.kind ?? "locked") : (record?.state ?? "bid");
    res.json({
      jobHash,
      state,
      record,
      bid: bidMsg ? { seq: bidMsg.seq, storedAt: bidMsg.time, bid: jsonOf(bidMsg.data) } : null,
      match: match && match.matchId === record?.matchId ? { matchId: match.matchId, providerId: match.offer.providerId, payoutAddress: match.offer.payoutAddress, region: match.offer.region, price: match.price.toString(), matchedAt: match.matchedAt, confirmBy: match.confirmBy } : null,
      escrows: chain.ok ? escrows : null,
      chain,
      events,
      resultHash: completedEscrow?.resultHash ?? events.map((e) => (e as { resultHash?: string }).resultHash).filter(Boolean).pop() ?? null,
    });
  });

  router.get("/jobs/:jobHash/events", async (req, res) => {
    const { jobHash } = parseRequest(JobHashParams, req.params, "params");
    // The slot is taken before any NATS read: a client over its stream limit costs nothing more.
    const releaseSlot = ctx.sse.reserve(clientKey(req));
    let record, bid;
    try {
      [{ record }, bid] = await Promise.all([jobState(ctx, jobHash), ctx.feed.lastBid(jobHash)]);
    } catch (error) {
      releaseSlot();
      throw error;
    }
    if (!record && !bid) {
      releaseSlot();
      throw new NtxError("JOB_NOT_FOUND", `no bid or job ${jobHash} is known to the market`);
    }
    // Subscribe before reading history, buffer, then drop what history already sent: nothing falls in the gap.
    // Only the replay can repeat a message, so `seen` is dropped once it is done (a long stream holds no set).
    let seen: Set<string> | null = new Set<string>();
    let dropped = 0;
    let buffer: Array<[JobMessageKind, Uint8Array]> | null = [];
    let stream: SseStream | undefined;
    const forward = (kind: JobMessageKind, data: Uint8Array) => {
      if (!stream || data.length === 0) return;
      if (seen) {
        const key = `${kind}:${createHash("sha256").update(data).digest("hex")}`;
        if (seen.has(key)) return;
        seen.add(key);
      }
      const value = jsonOf(data);
      if (value === undefined) return;
      if (kind === "event") stream.send("event", { ...(value as object), verified: decodeJobEvent(data).ok });
      else stream.send(kind, value);
    };
    let unsubscribe: () => void;
    try {
      unsubscribe = ctx.feed.subscribeJob(jobHash, (kind, data) => {
        if (!buffer) forward(kind, data);
        // Live messages wait while the replay is read; beyond the cap they are dropped and counted in "ready".
        else if (buffer.length < LIVE_BUFFER_MAX) buffer.push([kind, data]);
        else dropped++;
      });
    } catch (error) {
      releaseSlot();
      throw natsError(error, "subscribing to the job");
    }
    stream = openSse(req, res, {
      heartbeatMs: ctx.sseHeartbeatMs,
      onClose: () => {
        unsubscribe();
        releaseSlot();
      },
      registry: ctx.sse,
    });
    try {
      if (record) stream.send("record", record);
      const history = await ctx.feed.jobHistory(jobHash, ctx.limits.sseReplay);
      for (const m of history.matches) forward("match", m.data);
      for (const m of history.confirms) forward("confirm", m.data);
      for (const m of history.events) forward("event", m.data);
      for (const m of history.logs) forward("log", m.data);
      const pending = buffer;
      buffer = null;
      for (const [kind, data] of pending) forward(kind, data);
      seen = null;
      stream.send("ready", { jobHash, replayLimits: ctx.limits.sseReplay, ...(dropped ? { droppedLive: dropped } : {}) });
    } catch (error) {
      const e = error instanceof NtxError ? error : new NtxError("NATS_UNAVAILABLE", String(error), { retryable: true });
      stream.send("stream-error", { error: { code: e.code, message: e.message, retryable: e.retryable } });
      stream.close();
    }
  });

  return router;
}
