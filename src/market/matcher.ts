/**
 * The matcher. Bids arrive through one durable JetStream consumer shared by every instance (a consumer
 * group); each instance holds the whole offer book from the offers stream and the capacity KV.
 *
 * A bid's life in an instance: verify (worker threads) → best offer from the book → reserve the capacity with
 * KV compare-and-set → store the match, only if the job has no match yet (the stored match is the one claim
 * on a jobHash, so a replayed or redelivered bid never makes a second one; see job-state.ts) → wait for the
 * provider's confirmation → record it → ack. A lapsed confirmation is recorded, releases the reservation and
 * matches again, excluding that provider. Nothing is acked before its outcome is durable, so a crash only
 * causes a redelivery, and the redelivered bid resumes from the job's stored state.
 */
import { randomBytes } from "node:crypto";
import { pino, type Logger } from "pino";
import { isNtxError } from "../../offchain/errors.js";
import { blake2b256Hex } from "../crypto/sodium.js";
import { bidSubject, offerSubject, SUBJECT_ROOT, subjectToken } from "../nats/subjects.js";
import { CapacityLedger } from "./capacity.js";
import { decodeJobEvent, decodeProviderConfirm, type BidTerms, type Decoded, type VerifiedBidTerms } from "./decode.js";
import type { JobRecord } from "./job-record.js";
import { readJobState } from "./job-state.js";
import { createMarketMetrics, type MarketMetrics } from "./metrics.js";
import { OrderBook, type BookEntry, type FindOptions, type Usage } from "./order-book.js";
import { PROTOCOL_VERSION, RejectReason } from "./protocol.js";
import type { ProviderConfirm } from "./schemas.js";
import type { InboundMessage, MarketTransport, Watch } from "./transport.js";
import { createVerifyPool, type VerifyPool } from "./verify-pool.js";

export interface MatcherParams {
  transport: MarketTransport;
  /** Names this instance in matches and logs. */
  matcherId?: string;
  /** The durable consumer all instances share. */
  durable?: string;
  /** How long a provider has to confirm a match. */
  confirmWindowMs?: number;
  /** Redelivery timeout of an unacked bid; longer than the confirm window. */
  ackWaitMs?: number;
  maxAckPending?: number;
  /**
   * A bid that fits no offer is parked (it holds no slot of the bids consumer) and tried again when the book
   * changes, and at least this often. Also the redelivery delay if parking itself fails.
   */
  noFitRetryMs?: number;
  /** Matches tried (lapses included) before a bid is given up. */
  maxAttempts?: number;
  /** How many buyer nonces are remembered against reuse (oldest forgotten first). Default 250,000. */
  maxRememberedNonces?: number;
  /** Deliveries of one bid whose handling failed for a reason of ours before it is terminated and counted. Default 10. */
  maxDeliveries?: number;
  /** Verification threads; 0 = inline. Default: one per core. */
  verifyWorkers?: number;
  reputation?: (providerId: string) => number;
  metrics?: MarketMetrics;
  logger?: Logger;
  now?: () => number;
  /** Called after a match is durably published (benchmarks, tests). */
  onMatch?: (match: MatchSummary, bidReceivedAt: number) => void;
}

export interface MatchSummary {
  matchId: string;
  jobHash: string;
  attempt: number;
  providerId: string;
  matcherId: string;
  price: bigint;
  reserved: Usage;
}

export interface MatcherStats {
  book: number;
  awaitingConfirm: number;
  inFlight: number;
  rememberedNonces: number;
  /** Bids waiting for an offer that fits, outside the bids consumer. */
  parked: number;
}

export interface Matcher {
  readonly id: string;
  readonly book: OrderBook;
  readonly metrics: MarketMetrics;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): MatcherStats;
}

interface BidWork {
  msg: InboundMessage;
  /** The bid's JSON bytes exactly as received (and verified), without a UTF-8 BOM. */
  bidBytes: Uint8Array;
  bid: BidTerms;
  jobHash: string;
  receivedAt: number;
  record?: JobRecord;
  /** Revision of the job's KV record; undefined while it has none. */
  revision?: number;
  /** Sequence of the job's last stored match; 0 while it has none. */
  matchSeq: number;
  timer?: NodeJS.Timeout;
  /** Confirmation and lapse of one bid run one after the other, never interleaved. */
  chain?: Promise<unknown>;
}

/** A bid set aside because no offer fits it yet, as every instance holds it (from the parked stream). */
interface ParkedBid {
  bidBytes: Uint8Array;
  bid: BidTerms;
  jobHash: string;
  bidSeq: number;
  /** Providers its job record excludes (lapsed before), so a sweep skips what match() would skip. */
  excluded: string[];
}

/**
 * A parked bid taken up again, seen by the matching code as a delivery: ack/term take it out of the parked
 * stream for good, nak puts it back among the parked. Its identity is the bid's original stream sequence.
 */
class ParkedMessage implements InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  /** Above 1: the job is continued from its stored state, as a redelivery is. */
  readonly deliveryCount = 2;
  constructor(
    readonly parked: ParkedBid,
    private readonly done: (jobHash: string) => void,
    private readonly again: (parked: ParkedBid) => void,
  ) {
    this.subject = bidSubject(parked.jobHash);
    this.data = parked.bidBytes;
    this.seq = parked.bidSeq;
  }
  ack(): void {
    this.done(this.parked.jobHash);
  }
  term(): void {
    this.done(this.parked.jobHash);
  }
  nak(): void {
    this.again(this.parked);
  }
  working(): void {}
}

function serial<T>(work: BidWork, fn: () => Promise<T>): Promise<T> {
  const next = (work.chain ?? Promise.resolve()).then(fn, fn);
  work.chain = next.catch(() => undefined);
  return next;
}

const OFFER_KEY = Buffer.from(`,"offer":`);
/** An offer subject less this is its verified-book key, `<region>.<providerId>`. */
const OFFERS_PREFIX = `${SUBJECT_ROOT}.offers.`;
/** Confirmations of one job read back at lapse time: the matches stream keeps 32 messages per subject. */
const MAX_CONFIRMS_READ = 32;
/** Lock window of a match whose offer has left the book (the offer schema requires one, so rarely used). */
const DEFAULT_LOCK_WINDOW_MS = 10 * 60_000;

/** The verifier's UTF-8 decoding drops a leading BOM; embedded in a match it would break the JSON. */
function withoutBom(data: Uint8Array): Uint8Array {
  return data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? data.subarray(3) : data;
}

/**
 * A match document assembled as bytes: the bid as the buyer signed it and the offer's cached wire form are
 * copied, never decoded and re-encoded, and the whole document is one (pooled) allocation.
 */
function matchDocument(head: string, bid: Uint8Array, offer: Uint8Array, tail: string): Buffer {
  const headLength = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headLength + bid.length + OFFER_KEY.length + offer.length + Buffer.byteLength(tail));
  let at = out.write(head, 0);
  out.set(bid, at);
  at += bid.length;
  out.set(OFFER_KEY, at);
  at += OFFER_KEY.length;
  out.set(offer, at);
  at += offer.length;
  out.write(tail, at);
  return out;
}

/** JSON.stringify(usage), written out: every field is an integer (the schemas), and this runs once a match. */
function usageJson(u: Usage): string {
  return `{"cpuCores":${u.cpuCores},"memoryMiB":${u.memoryMiB},"diskGiB":${u.diskGiB},"gpuIndices":[${u.gpuIndices.join(",")}]}`;
}

/** The offer's cached wire JSON as UTF-8, made once per book entry (an entry's `wire` never changes). */
const wireCache = new WeakMap<BookEntry, { wire: string; bytes: Buffer }>();
function wireBytes(entry: BookEntry): Buffer {
  const cached = wireCache.get(entry);
  if (cached && cached.wire === entry.wire) return cached.bytes;
  const bytes = Buffer.from(entry.wire);
  wireCache.set(entry, { wire: entry.wire, bytes });
  return bytes;
}

/** The matchId of a stored match document, or undefined when it has none (never throws). */
function storedMatchId(data: Uint8Array): string | undefined {
  try {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { matchId?: unknown }).matchId;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

export function createMatcher(params: MatcherParams): Matcher {
  const id = params.matcherId ?? `matcher-${randomBytes(4).toString("hex")}`;
  const transport = params.transport;
  const now = params.now ?? Date.now;
  const confirmWindowMs = params.confirmWindowMs ?? 10_000;
  const ackWaitMs = params.ackWaitMs ?? confirmWindowMs + 30_000;
  const noFitRetryMs = params.noFitRetryMs ?? 2_000;
  const maxAttempts = params.maxAttempts ?? 5;
  const maxDeliveries = Math.max(1, params.maxDeliveries ?? 10);
  const maxRememberedNonces = Math.max(1, params.maxRememberedNonces ?? 250_000);
  const metrics = params.metrics ?? createMarketMetrics();
  const log = params.logger ?? pino({ level: process.env.NTX_LOG_LEVEL ?? "warn" });
  const idJson = JSON.stringify(id);
  const book = new OrderBook();
  const ledger = new CapacityLedger(transport.capacity, book, metrics, now);
  /** Bids this instance holds, by jobHash (matched and waiting, or being matched). */
  const held = new Map<string, BidWork>();
  /**
   * buyer:nonce → jobHash, until the bid expires: a nonce signs one job only. Bounded by count, oldest first:
   * keys cost nothing to make, so bids with far expiries must not grow it without end. Forgetting an old nonce
   * only lets a buyer reuse it; a replayed bid is still the same job, which the job's stored state turns away.
   */
  const nonces = new Map<string, { jobHash: string; until: number }>();
  /** Parked bids by jobHash: every instance holds them all, from the parked stream. */
  const parked = new Map<string, ParkedBid>();
  /** Bumped when offers or capacity change: parked bids are worth another look. */
  let bookVersion = 0;
  let sweptVersion = 0;
  let lastFullSweep = 0;
  let parkedCursor: Iterator<ParkedBid> | undefined;
  /** Revision of each verified-book key this instance has seen: its writes there are compare-and-set. */
  const bookRevisions = new Map<string, number>();
  let pool: VerifyPool | undefined;
  const watches: Watch[] = [];
  let sweeper: NodeJS.Timeout | undefined;
  let stopping = false;
  let inFlight = 0;
  const offerDecodes = new Set<Promise<void>>();
  /** Offer subject → hash of the bytes being checked for it now. */
  const offerChecks = new Map<string, string>();

  // ---------- offers ----------
  /**
   * The verified book: a newer offer read from the raw stream is written to the `ntx-offer-book` KV, which only
   * matchers may write, so what a restarted matcher (or the API) loads is never another provider's forgery.
   */
  const recordOffer = async (key: string, data: Uint8Array) => {
    const revision = bookRevisions.get(key);
    try {
      bookRevisions.set(key, revision === undefined ? await transport.offerBook.create(key, data) : await transport.offerBook.update(key, data, revision));
    } catch (error) {
      // Another instance wrote it first; its write reaches this one through the watch.
      if (!isNtxError(error, "KV_EXISTS") && !isNtxError(error, "KV_CONFLICT")) log.warn({ err: error, key }, "offer not written to the verified book");
    }
  };

  const onOffer = (subject: string, data: Uint8Array, bookRevision?: number) => {
    // The very bytes the book's entry was verified from: the verified book's echo of this instance's own write,
    // or on a start the raw stream's copy of an offer just read from the book. Verified once is enough (an
    // offer's EIP-712 check is ~1 ms of a verifier thread; a start used to check every offer twice).
    const hash = blake2b256Hex(data);
    const inBook = book.get(subjectToken(subject, 3) ?? "");
    const verified = inBook?.sourceHash === hash && inBook.offer.expiresAt > now() && subject === offerSubject(inBook.region, inBook.providerId);
    if (verified || offerChecks.get(subject) === hash) {
      // (A check of the same bytes still in flight does the work: the raw stream's replay starts before the
      // book's decodes finish.)
      const key = subject.slice(OFFERS_PREFIX.length);
      if (bookRevision !== undefined && bookRevision > (bookRevisions.get(key) ?? 0)) bookRevisions.set(key, bookRevision);
      return;
    }
    offerChecks.set(subject, hash);
    const p = pool!
      .decodeOffer(data, now())
      .then((r) => {
        if (!r.ok) return metrics.reject("offer", r.reason);
        const { offer, digest } = r.value;
        if (subject !== offerSubject(offer.region, offer.providerId)) return metrics.reject("offer", RejectReason.Malformed);
        const key = `${offer.region}.${offer.providerId}`;
        if (bookRevision !== undefined && bookRevision > (bookRevisions.get(key) ?? 0)) bookRevisions.set(key, bookRevision);
        const existing = book.get(offer.providerId);
        if (existing && BigInt(existing.offer.nonce) >= BigInt(offer.nonce)) {
          // Redelivery of the offer we hold is not a replay; an older or equal nonce with other content is.
          if (existing.digest !== digest) metrics.reject("offer", RejectReason.Replayed);
          return;
        }
        book.upsert(offer, digest, now(), ledger.usageFor(offer.providerId, offer.nonce)).sourceHash = hash;
        bookVersion++;
        if (bookRevision === undefined) return recordOffer(key, data);
      })
      .catch((error: unknown) => {
        // Stopping closes the verifier under offers still in flight: nothing is lost, the next start reads them.
        if (!stopping) log.error({ err: error }, "offer handling failed");
      })
      .finally(() => {
        offerDecodes.delete(p);
        if (offerChecks.get(subject) === hash) offerChecks.delete(subject);
      });
    offerDecodes.add(p);
  };

  // ---------- job records ----------
  /** Writes the record by CAS (or creates it); false when someone else changed it first. */
  const writeRecord = async (work: BidWork, record: JobRecord): Promise<boolean> => {
    const value = Buffer.from(JSON.stringify(record));
    try {
      work.revision = work.revision === undefined ? await transport.jobs.create(work.jobHash, value) : await transport.jobs.update(work.jobHash, value, work.revision);
      work.record = record;
      return true;
    } catch (error) {
      if (isNtxError(error, "KV_EXISTS") || isNtxError(error, "KV_CONFLICT")) return false;
      throw error;
    }
  };

  const finish = (work: BidWork, how: "ack" | "term" | "nak", delayMs?: number) => {
    if (work.timer) clearTimeout(work.timer);
    if (held.get(work.jobHash) === work) held.delete(work.jobHash);
    if (how === "ack") work.msg.ack();
    else if (how === "term") work.msg.term();
    else work.msg.nak(delayMs);
  };

  // ---------- matching ----------
  const giveUp = async (work: BidWork) => {
    const base = work.record;
    const record: JobRecord = { v: 1, jobHash: work.jobHash, bidSeq: work.msg.seq, attempt: base?.attempt ?? 0, excluded: base?.excluded ?? [], state: "expired", updatedAt: now() };
    if (!(await writeRecord(work, record))) return resume(work);
    finish(work, "ack");
  };

  const match = async (work: BidWork): Promise<void> => {
    const bid = work.bid;
    const attempt = (work.record?.attempt ?? 0) + 1;
    if (bid.expiresAt <= now() || attempt > maxAttempts) return giveUp(work);
    const excluded = work.record?.excluded ?? [];
    const find: FindOptions = { now: now() };
    if (excluded.length > 0) find.exclude = new Set(excluded);
    if (params.reputation) find.reputation = params.reputation;
    for (let tries = 0; tries < 8; tries++) {
      find.now = now();
      const candidate = book.findBest(bid, find);
      if (!candidate) break;
      const providerId = candidate.entry.providerId;
      const r = bid.spec.resources;
      const usage: Usage = { cpuCores: r.cpuCores, memoryMiB: r.memoryMiB, diskGiB: r.diskGiB, gpuIndices: candidate.gpuIndices };
      const matchId = `${work.jobHash}-${attempt}`;
      const matchedAt = now();
      // No reservation outlives its bid, a pending one included.
      const confirmBy = Math.min(matchedAt + confirmWindowMs, bid.deadline);
      book.hold(providerId, usage);
      let reserved: boolean;
      try {
        reserved = await ledger.reserve(providerId, work.jobHash, matchId, usage, confirmBy, { deadline: bid.deadline, lockWindowMs: candidate.entry.offer.terms.lockWindowMs });
      } finally {
        book.unhold(providerId, usage);
      }
      if (!reserved) continue;
      const price = candidate.price.toString();
      const record: JobRecord = {
        v: 1,
        jobHash: work.jobHash,
        bidSeq: work.msg.seq,
        state: "matched",
        attempt,
        matchId,
        providerId,
        price,
        reserved: usage,
        confirmBy,
        excluded,
        updatedAt: matchedAt,
      };
      // A valid `Match` document, built without re-serializing the bid or the offer.
      const data = matchDocument(
        `{"v":${PROTOCOL_VERSION},"type":"match","matchId":"${matchId}","jobHash":"${work.jobHash}","attempt":${attempt},"bid":`,
        work.bidBytes,
        wireBytes(candidate.entry),
        `,"price":"${price}","reserved":${usageJson(usage)},"matcherId":${idJson},"matchedAt":${matchedAt},"confirmBy":${confirmBy}}`,
      );
      try {
        work.matchSeq = await transport.publishMatch(work.jobHash, data, { matchId, bidSeq: work.msg.seq, expectedLastSeq: work.matchSeq });
      } catch (error) {
        // (cluster engineer, #13) A failed publish may still have stored the match (its ack lost while a NATS
        // node died, or a timeout): releasing then let the provider's in-time confirmation find no reservation,
        // and the bid was matched a second time. Keep the reservation when the stored last match is this one.
        const stored = isNtxError(error, "MATCH_EXISTS") ? null : await transport.lastMatch(work.jobHash).catch(() => null);
        if (stored && storedMatchId(stored.data) === matchId) {
          work.matchSeq = stored.seq;
        } else {
          await ledger.release(providerId, work.jobHash, matchId);
          // Another delivery of this jobHash got there first: follow what it stored.
          if (isNtxError(error, "MATCH_EXISTS")) return resume(work);
          throw error;
        }
      }
      work.record = record;
      metrics.matched.inc();
      metrics.bidToMatchSeconds.observe((now() - work.receivedAt) / 1000);
      params.onMatch?.({ matchId, jobHash: work.jobHash, attempt, providerId, matcherId: id, price: candidate.price, reserved: usage }, work.receivedAt);
      // The delivery's ack timer outlasts the confirm window; only a later attempt needs more time.
      if (attempt > 1 || work.msg.deliveryCount > 1) work.msg.working();
      awaitConfirm(work);
      return;
    }
    metrics.noFit.inc();
    await park(work);
  };

  // ---------- parked bids ----------
  const unpark = (jobHash: string) => {
    parked.delete(jobHash);
    transport.unpark(jobHash).catch((error: unknown) => log.warn({ err: error, jobHash }, "parked bid not taken out; it will be found matched or expired later"));
  };
  const repark = (p: ParkedBid) => {
    if (!stopping) parked.set(p.jobHash, p);
  };

  /** No offer fits: the bid waits in the parked stream, and this delivery is acked, freeing its consumer slot. */
  const park = async (work: BidWork) => {
    const entry: ParkedBid = { bidBytes: work.bidBytes, bid: work.bid, jobHash: work.jobHash, bidSeq: work.msg.seq, excluded: work.record?.excluded ?? [] };
    if (work.msg instanceof ParkedMessage) return finish(work, "nak");
    try {
      await transport.park(work.jobHash, work.bidBytes, work.msg.seq);
    } catch (error) {
      log.warn({ err: error, jobHash: work.jobHash }, "bid could not be parked; redelivered later instead");
      return finish(work, "nak", noFitRetryMs);
    }
    parked.set(work.jobHash, entry);
    finish(work, "ack");
  };

  /** Takes a parked bid up again as a delivery: from its stored job state, like a redelivered bid. */
  const takeUp = (p: ParkedBid, then: (work: BidWork) => Promise<void>) => {
    parked.delete(p.jobHash);
    const work: BidWork = { msg: new ParkedMessage(p, unpark, repark), bidBytes: p.bidBytes, bid: p.bid, jobHash: p.jobHash, receivedAt: now(), matchSeq: 0 };
    held.set(p.jobHash, work);
    then(work).catch((error: unknown) => fail(work, error));
  };

  /**
   * Parked bids get another look when the book changed (and at least every noFitRetryMs), a time-boxed slice
   * per tick so a large parked set never stalls bids; only those the book can now serve are taken up.
   */
  const sweepParked = (t: number) => {
    if (!parkedCursor) {
      if (parked.size === 0 || (bookVersion === sweptVersion && t - lastFullSweep < noFitRetryMs)) return;
      parkedCursor = parked.values();
      sweptVersion = bookVersion;
      lastFullSweep = t;
    }
    const stopAt = performance.now() + 8;
    const find: FindOptions = { now: t };
    if (params.reputation) find.reputation = params.reputation;
    for (let i = 0; ; i++) {
      if ((i & 63) === 0 && performance.now() > stopAt) return;
      const next = parkedCursor.next();
      if (next.done) {
        parkedCursor = undefined;
        return;
      }
      const p = next.value;
      if (held.has(p.jobHash)) continue;
      if (p.bid.expiresAt <= t) {
        takeUp(p, giveUp);
        continue;
      }
      if (p.excluded.length > 0) find.exclude = new Set(p.excluded);
      else delete find.exclude;
      if (book.findBest(p.bid, find)) takeUp(p, resume);
    }
  };

  const onParked = (jobHash: string, data: Uint8Array | null, bidSeq: number) => {
    if (!data) {
      parked.delete(jobHash);
      return;
    }
    if (parked.get(jobHash)?.bidSeq === bidSeq || held.has(jobHash)) return;
    // Written by matchers only, and checked again all the same: it will be embedded in a match.
    const p = pool!
      .decodeBidTerms(data, now())
      .then((r) => {
        if (!r.ok || r.value.jobHash !== jobHash) return;
        if (!held.has(jobHash)) parked.set(jobHash, { bidBytes: withoutBom(data), bid: r.value.terms, jobHash, bidSeq, excluded: [] });
      })
      .catch((error: unknown) => {
        if (!stopping) log.error({ err: error }, "parked bid handling failed");
      })
      .finally(() => offerDecodes.delete(p));
    offerDecodes.add(p);
  };

  const awaitConfirm = (work: BidWork) => {
    held.set(work.jobHash, work);
    if (work.timer) clearTimeout(work.timer);
    const wait = Math.max(0, (work.record?.confirmBy ?? now()) - now());
    work.timer = setTimeout(() => void serial(work, () => lapse(work)).catch((error: unknown) => fail(work, error)), wait);
    work.timer.unref?.();
  };

  const lapse = async (work: BidWork) => {
    if (held.get(work.jobHash) !== work || !work.record?.providerId || !work.record.matchId) return;
    const { providerId, matchId } = work.record;
    // The confirmation may be stored but have reached no instance (e.g. during a restart).
    if (await confirmedInStream(work)) return;
    metrics.lapsed.inc();
    await ledger.release(providerId, work.jobHash, matchId);
    const record: JobRecord = { ...work.record, state: "lapsed", excluded: [...work.record.excluded, providerId], updatedAt: now() };
    if (!(await writeRecord(work, record))) return resume(work);
    work.msg.working();
    await match(work);
  };

  /**
   * The lapse-time check: the job's confirmations stored since its current match, each under exactly the rules
   * of a live one. (cluster engineer, #13) Reading only the last one lost an in-time confirmation behind a later
   * message on the subject (an earlier attempt's late confirmation, held up by a NATS failover): the redelivered
   * bid was matched again although its match was confirmed in time.
   */
  const confirmedInStream = async (work: BidWork): Promise<boolean> => {
    const confirmBy = work.record?.confirmBy ?? 0;
    for (const stored of await transport.confirmsAfter(work.jobHash, work.matchSeq, MAX_CONFIRMS_READ)) {
      // Oldest first: from here on every one is late.
      if (stored.storedAt > confirmBy) return false;
      const decoded = decodeProviderConfirm(stored.data);
      if (decoded.ok && (await applyConfirm(work, decoded.value, stored.storedAt))) return true;
    }
    return false;
  };

  /**
   * A confirmation counts if it names this job, its current match and its provider, and the server stored it
   * by `confirmBy`: however late this matcher reads it (a pause, a backlog), its stored time decides.
   */
  const applyConfirm = async (work: BidWork, confirm: ProviderConfirm, storedAt: number): Promise<boolean> => {
    const record = work.record;
    if (!record || record.state !== "matched" || confirm.jobHash !== work.jobHash || confirm.matchId !== record.matchId || confirm.providerId !== record.providerId) return false;
    if (storedAt > (record.confirmBy ?? 0)) return false;
    if (work.timer) clearTimeout(work.timer);
    const usage = record.reserved ?? { cpuCores: 0, memoryMiB: 0, diskGiB: 0, gpuIndices: [] };
    const hold = { deadline: work.bid.deadline, lockWindowMs: book.get(record.providerId)?.offer.terms.lockWindowMs ?? DEFAULT_LOCK_WINDOW_MS };
    // Stored in time, the confirmation wins over the reservation's state: however late this matcher handles it
    // (behind, paused), the match stands and is never lapsed or expired (the buyer may be locking it already).
    await ledger.confirm(record.providerId, work.jobHash, record.matchId, usage, storedAt, hold);
    const next: JobRecord = { ...record, state: "confirmed", confirmedAt: confirm.confirmedAt, updatedAt: now() };
    if (!(await writeRecord(work, next))) {
      await resume(work);
      return true;
    }
    metrics.confirmed.inc();
    finish(work, "ack");
    return true;
  };

  /** Continues a bid from its stored job record (after a redelivery, a lost race, or a restart). */
  const resume = async (work: BidWork): Promise<void> => {
    const stored = await readJobState(transport, work.jobHash);
    if (stored === "corrupt") {
      // Only matchers write job records and matches; one that does not parse cannot be continued, nor overwritten safely.
      log.error({ jobHash: work.jobHash }, "job record or match does not parse; bid set aside");
      return finish(work, "term");
    }
    if (!stored) {
      work.record = undefined;
      work.revision = undefined;
      work.matchSeq = 0;
      return match(work);
    }
    work.record = stored.record;
    work.revision = stored.revision;
    work.matchSeq = stored.matchSeq;
    if (stored.record.bidSeq !== work.msg.seq) {
      // The same job signed once and published again: a replay of an existing bid.
      metrics.reject("bid", RejectReason.Replayed);
      return finish(work, "term");
    }
    switch (stored.record.state) {
      case "confirmed":
      case "expired":
        return finish(work, "ack");
      case "lapsed":
        return match(work);
      case "matched":
        held.set(work.jobHash, work);
        if (await confirmedInStream(work)) return;
        if ((stored.record.confirmBy ?? 0) > now()) {
          work.msg.working();
          return awaitConfirm(work);
        }
        return lapse(work);
    }
  };

  /** Handling failed for a reason of ours: redelivered, a bounded number of times, then terminated and counted. */
  const retryOrDrop = (msg: InboundMessage, error: unknown, jobHash?: string) => {
    if (msg.deliveryCount >= maxDeliveries) {
      log.error({ err: error, jobHash, deliveries: msg.deliveryCount }, "bid handling kept failing; bid dropped");
      metrics.reject("bid", RejectReason.Unhandled);
      return "term" as const;
    }
    log.error({ err: error, jobHash }, "bid handling failed; it will be redelivered");
    return "nak" as const;
  };

  const fail = (work: BidWork, error: unknown) => {
    if (stopping) return;
    finish(work, retryOrDrop(work.msg, error, work.jobHash), 1_000);
  };

  // ---------- bids ----------
  const handleBid = async (msg: InboundMessage, decoded: Decoded<VerifiedBidTerms>, receivedAt: number) => {
    if (!decoded.ok) {
      metrics.reject("bid", decoded.reason);
      return msg.term();
    }
    const { terms: bid, jobHash } = decoded.value;
    if (subjectToken(msg.subject, 2) !== jobHash) {
      metrics.reject("bid", RejectReason.Malformed);
      return msg.term();
    }
    const nonceKey = `${bid.buyer.key}:${bid.nonce}`;
    const seen = nonces.get(nonceKey);
    if (seen && seen.jobHash !== jobHash) {
      metrics.reject("bid", RejectReason.Replayed);
      return msg.term();
    }
    if (!seen) {
      if (nonces.size >= maxRememberedNonces) nonces.delete(nonces.keys().next().value as string);
      nonces.set(nonceKey, { jobHash, until: bid.expiresAt });
    }
    const current = held.get(jobHash);
    if (current) {
      // A redelivery of the very message this instance holds: the held one will be acked.
      if (current.msg.seq === msg.seq) return;
      metrics.reject("bid", RejectReason.Replayed);
      return msg.term();
    }
    const work: BidWork = { msg, bidBytes: withoutBom(msg.data), bid, jobHash, receivedAt, matchSeq: 0 };
    parked.delete(jobHash);
    held.set(jobHash, work);
    try {
      if (msg.deliveryCount > 1) await resume(work);
      else await match(work);
    } catch (error) {
      fail(work, error);
    }
  };

  const onBid = (msg: InboundMessage) => {
    if (stopping) return;
    const receivedAt = now();
    inFlight++;
    pool!
      .decodeBidTerms(msg.data, receivedAt)
      .then((decoded) => handleBid(msg, decoded, receivedAt))
      .catch((error: unknown) => {
        // Stopping closes the pool under in-flight bids; they stay unacked and are redelivered elsewhere.
        if (stopping) return;
        if (retryOrDrop(msg, error) === "term") msg.term();
        else msg.nak(1_000);
      })
      .finally(() => inFlight--);
  };

  const onConfirm = (subject: string, data: Uint8Array, storedAt: number) => {
    const jobHash = subjectToken(subject, 2);
    const work = jobHash ? held.get(jobHash) : undefined;
    // Only the instance holding the bid checks the signature; the others skip it for free.
    if (!work) return;
    void pool!
      .decodeConfirm(data)
      .then(async (r) => {
        if (!r.ok) return metrics.reject("confirm", r.reason);
        if (r.value.jobHash !== jobHash) return metrics.reject("confirm", RejectReason.Malformed);
        await serial(work, async () => {
          if (held.get(r.value.jobHash) !== work) return;
          if (!(await applyConfirm(work, r.value, storedAt)) && storedAt > (work.record?.confirmBy ?? 0)) metrics.reject("confirm", RejectReason.Expired);
        });
      })
      .catch((error: unknown) => fail(work, error));
  };

  // ---------- job events: what ends a reservation early, or keeps it until the deadline ----------
  const ENDS_RESERVATION = new Set(["released", "completed", "failed", "cancelled"]);
  const onJobEvent = (subject: string, data: Uint8Array) => {
    const decoded = decodeJobEvent(data);
    if (!decoded.ok) return metrics.reject("event", decoded.reason);
    const event = decoded.value;
    if (subjectToken(subject, 2) !== event.jobHash) return metrics.reject("event", RejectReason.Malformed);
    // Signed by the provider: it can only speak for its own capacity record.
    const done = event.kind === "locked" ? ledger.lock(event.providerId, event.jobHash) : ENDS_RESERVATION.has(event.kind) ? ledger.release(event.providerId, event.jobHash, undefined) : undefined;
    void done?.catch((error: unknown) => log.warn({ err: error, jobHash: event.jobHash }, "reservation update from a job event failed"));
  };

  return {
    id,
    book,
    metrics,
    async start() {
      pool = createVerifyPool(params.verifyWorkers === undefined ? {} : { workers: params.verifyWorkers });
      // Bids are taken only once they can be verified: a cold verifier thread takes a while to load.
      await pool.ready();
      const capacityWatch = await transport.capacity.watch((key, record) => {
        ledger.observe(key, record?.value ?? null, record?.revision ?? Number.MAX_SAFE_INTEGER);
        bookVersion++;
      });
      watches.push(capacityWatch);
      await capacityWatch.ready;
      const offersWatch = await transport.watchOffers(onOffer);
      watches.push(offersWatch);
      await offersWatch.ready;
      while (offerDecodes.size > 0) await Promise.all([...offerDecodes]);
      const parkedWatch = await transport.watchParked(onParked);
      watches.push(parkedWatch);
      await parkedWatch.ready;
      while (offerDecodes.size > 0) await Promise.all([...offerDecodes]);
      watches.push(await transport.subscribeConfirms(onConfirm));
      watches.push(await transport.subscribeJobEvents(onJobEvent));
      let tick = 0;
      sweeper = setInterval(() => {
        const t = now();
        tick++;
        // 2,000 entries every 100 ms: a 100k book is swept every 5 s without a pause that bids would feel.
        book.sweep(t, 2_000);
        ledger.refreshExpired();
        sweepParked(t);
        if (tick % 10 === 0) for (const [k, v] of nonces) if (v.until <= t) nonces.delete(k);
      }, 100);
      sweeper.unref?.();
      watches.push(await transport.consumeBids({ durable: params.durable ?? "ntx-matcher", ackWaitMs, maxAckPending: params.maxAckPending ?? 50_000 }, onBid));
      log.info({ matcher: id, offers: book.size }, "matcher started");
    },
    async stop() {
      stopping = true;
      if (sweeper) clearInterval(sweeper);
      // Bids consumer first, so nothing new arrives while the rest shuts down; held bids stay unacked and
      // are redelivered to another instance.
      for (const w of watches.reverse()) await w.stop().catch(() => undefined);
      for (const work of held.values()) if (work.timer) clearTimeout(work.timer);
      held.clear();
      await pool?.close();
    },
    stats: () => ({ book: book.size, awaitingConfirm: held.size, inFlight, rememberedNonces: nonces.size, parked: parked.size }),
  };
}
