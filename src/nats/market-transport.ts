/**
 * MarketTransport over JetStream: bids through one durable pull consumer shared by every matcher instance,
 * offers and KV state replayed through ordered consumers (deliver last per subject), matches published with a
 * message id for de-duplication, KV compare-and-set through the KV stream's expected-last-subject-sequence.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { NtxError } from "../../offchain/errors.js";
import type { BidConsumerOptions, InboundMessage, KvRecord, MarketKv, MarketTransport, Watch } from "../market/transport.js";
import { BucketNames, ensureMarketInfrastructure, StreamNames } from "./setup.js";
import { confirmSubject, matchSubject, parkedSubject, SUBJECT_ROOT, SubjectPatterns } from "./subjects.js";

const WRONG_LAST_SEQUENCE = 10071;
/** On a stored match: the stream sequence of the bid it was made for (a replayed bid has another). */
const BID_SEQ_HEADER = "Ntx-Bid-Seq";

function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

function isWrongSequence(error: unknown): boolean {
  return errorCode(error) === WRONG_LAST_SEQUENCE || (error instanceof Error && /wrong last sequence/i.test(error.message));
}

/**
 * How long each pull of a long-lived consumer lives (heartbeats every half of it), instead of the client's 30 s:
 * when a consumer's leader dies with a node of a cluster, the missed heartbeats show it within ~5 s and the pull
 * is re-issued to the new leader (an ordered consumer is re-created), instead of half a minute without messages.
 */
const PULL_EXPIRES_MS = 5_000;

/**
 * Bids one matcher instance asks for at a time. The server fills waiting pulls first come, first served, and a
 * pull that expires goes to the back: with large pulls, an instance that keeps re-pulling as it works stays ahead
 * of one whose pull expired while bids trickled in, which then gets none (two instances, 2,000 per pull, bids
 * at CI's pace: one took all 5,000). Small pulls are filled in well under an expiry, so every instance's turn
 * comes; 256 in flight still hides the round trip at the matcher's rate.
 */
const BID_PREFETCH = 256;

/**
 * Replays a stream through an ordered consumer: the latest message of each subject first, then new ones.
 * `ready` resolves when the replay has caught up with what the stream held at the start.
 */
async function replayLatest(js: JetStreamClient, jsm: JetStreamManager, stream: string, filter: string, onMessage: (subject: string, data: Uint8Array, seq: number, headers: { get(k: string): string } | undefined) => void): Promise<Watch> {
  const consumer = await js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.LastPerSubject });
  const info = await jsm.streams.info(stream);
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  if (info.state.messages === 0) resolveReady();
  const messages: ConsumerMessages = await consumer.consume({
    expires: PULL_EXPIRES_MS,
    callback: (m) => {
      try {
        onMessage(m.subject, m.data, m.seq, m.headers);
      } finally {
        if (m.info.pending === 0) resolveReady();
      }
    },
  });
  // An empty filter match (stream has messages, none under `filter`) must not hang the start-up.
  void consumer.info(true).then((ci) => {
    if (ci.num_pending === 0) resolveReady();
  });
  return {
    ready,
    stop: async () => {
      await messages.close().catch(() => undefined);
    },
  };
}

interface PubAck {
  stream?: string;
  seq?: number;
  /** The message id was stored already (within the duplicate window): nothing new was stored. */
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

/**
 * JetStream publish (and so KV create/update) without nats.js's per-request machinery: one inbox
 * subscription for every ack, one sweeping timer instead of a timer per request, and no Error objects built
 * up front. The matcher makes two or three of these per bid, so that machinery was a large share of its
 * main thread. Same wire protocol as `js.publish`: the server's ack (or its error) is the reply.
 *
 * Publishes are handed to the connection once per event-loop turn, in the order they were made: nats.js
 * writes its buffer to the socket at the end of each microtask run, so publishes made from many bids' promise
 * chains would otherwise each cost a socket write (and a wake-up of the server). One turn's worth go out as one.
 */
class JsPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #pending = new Map<string, { resolve: (ack: PubAck) => void; reject: (error: Error) => void; at: number }>();
  readonly #timeoutMs: number;
  #sub: Subscription | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;
  #outbox: Array<{ subject: string; data: Uint8Array; hdrs: MsgHdrs | undefined; token: string }> = [];
  #flushScheduled = false;

  constructor(nc: NatsConnection, timeoutMs = 5_000) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    const inboxPrefix = (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#prefix = createInbox(inboxPrefix);
  }

  #start(): void {
    this.#sub = this.#nc.subscribe(`${this.#prefix}.*`, {
      callback: (_err, m) => {
        const token = m.subject.slice(this.#prefix.length + 1);
        const p = this.#pending.get(token);
        if (!p) return;
        this.#pending.delete(token);
        if (m.data.length === 0) {
          // A status message: 503 = no stream listens on the subject.
          const code = m.headers?.code ?? 0;
          p.reject(new NtxError("NATS_JS", `JetStream publish failed: status ${code} ${m.headers?.description ?? ""}`.trim(), { retryable: true }));
          return;
        }
        try {
          p.resolve(JSON.parse(decoder.decode(m.data)) as PubAck);
        } catch (error) {
          p.reject(new NtxError("NATS_JS", "JetStream publish: unreadable ack", { retryable: true, cause: error }));
        }
      },
    });
    this.#sweeper = setInterval(() => {
      const limit = Date.now() - this.#timeoutMs;
      for (const [token, p] of this.#pending) {
        if (p.at > limit) continue;
        this.#pending.delete(token);
        p.reject(new NtxError("NATS_TIMEOUT", `JetStream publish not acknowledged within ${this.#timeoutMs} ms`, { retryable: true }));
      }
    }, 250);
    this.#sweeper.unref?.();
  }

  publish(subject: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<PubAck> {
    if (!this.#sub) this.#start();
    const token = (this.#next++).toString(36);
    return new Promise((resolve, reject) => {
      this.#pending.set(token, { resolve, reject, at: Date.now() });
      this.#outbox.push({ subject, data, hdrs, token });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const outbox = this.#outbox;
    this.#outbox = [];
    for (const { subject, data, hdrs, token } of outbox) {
      const reply = `${this.#prefix}.${token}`;
      try {
        this.#nc.publish(subject, data, hdrs ? { reply, headers: hdrs } : { reply });
      } catch (error) {
        const p = this.#pending.get(token);
        this.#pending.delete(token);
        p?.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  };

  close(): void {
    this.#outbox = [];
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    for (const p of this.#pending.values()) p.reject(new NtxError("NATS_CLOSED", "transport closed", { retryable: true }));
    this.#pending.clear();
  }
}

const decoder = new TextDecoder();

/** A JetStream ack's error as an Error carrying the server's error code, as nats.js's own errors do. */
function ackError(error: NonNullable<PubAck["error"]>): Error {
  return Object.assign(new Error(error.description ?? "JetStream error"), { code: error.err_code });
}

/**
 * Headers written once as the bytes NATS puts on the wire. A publish only ever asks its headers to `encode()`
 * themselves, so the hot paths (every KV create and match publish) skip building and re-encoding a MsgHdrs
 * map per message. The transport tests publish these to a real server, so a nats.js that stops calling
 * encode() fails there, not in production.
 */
function wireHeaders(pairs: Record<string, string>): MsgHdrs {
  let text = "NATS/1.0";
  for (const [k, v] of Object.entries(pairs)) {
    if (/[\r\n:]/.test(k) || /[\r\n]/.test(v)) throw new NtxError("NATS_HEADER", `header ${k} has a line break or colon`);
    text += `\r\n${k}: ${v}`;
  }
  const bytes = Buffer.from(`${text}\r\n\r\n`);
  return { encode: () => bytes } as unknown as MsgHdrs;
}

const EXPECT_NEW_KEY = wireHeaders({ "Nats-Expected-Last-Subject-Sequence": "0" });

/** A match's headers, written straight out (one per matched bid): the same bytes wireHeaders makes of them. */
function matchHeaders(matchId: string, expectedLastSeq: number, bidSeq: number): MsgHdrs {
  if (/[\r\n]/.test(matchId)) throw new NtxError("NATS_HEADER", "header Nats-Msg-Id has a line break");
  const bytes = Buffer.from(`NATS/1.0\r\nNats-Msg-Id: ${matchId}\r\nNats-Expected-Last-Subject-Sequence: ${expectedLastSeq}\r\n${BID_SEQ_HEADER}: ${bidSeq}\r\n\r\n`);
  return { encode: () => bytes } as unknown as MsgHdrs;
}

const ACK = Uint8Array.of(43, 65, 67, 75); // +ACK
const NAK = Uint8Array.of(45, 78, 65, 75); // -NAK
const WPI = Uint8Array.of(43, 87, 80, 73); // +WPI
const TERM = Uint8Array.of(43, 84, 69, 82, 77); // +TERM

/**
 * A bid delivery as the matcher sees it, holding only what it needs until the bid's outcome is durable: the
 * subject, its own copy of the data, the stream sequence, the delivery count and the ack subject (the handle an
 * ack, nak, term or working is published to, as nats.js's JsMsg does). A matched bid is held until its provider
 * confirms; holding the client's message instead kept its parsed protocol arguments, decoded reply and
 * delivery info and, through the data view, the whole socket read it came in (~3.5 KB a bid, all of it
 * surviving into the old generation).
 */
class JsInboundMessage implements InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  readonly deliveryCount: number;
  /** The ack subject, or the client's message itself if this nats.js hides its reply (never on 3.x). */
  readonly #handle: string | JsMsg;
  readonly #nc: NatsConnection;
  /** Every reply but +WPI is final; later ones are not sent (JsMsg's rule). */
  #done = false;
  constructor(m: JsMsg, nc: NatsConnection) {
    this.subject = m.subject;
    // A copy, from Node's pooled slabs (small ones share an allocation): not a view that keeps the socket read alive.
    this.data = Buffer.from(m.data);
    const info = m.info;
    this.seq = info.streamSequence;
    this.deliveryCount = info.deliveryCount;
    // nats.js's JsMsg implementation exposes the ack subject as `reply` without typing it.
    const reply = (m as unknown as { reply?: unknown }).reply;
    this.#handle = typeof reply === "string" && reply.startsWith("$JS.ACK.") ? reply : m;
    this.#nc = nc;
  }
  /** Publishes the reply to the ack subject; every reply but +WPI is final. */
  #respond(payload: Uint8Array, final: boolean, viaMsg: (m: JsMsg) => void): void {
    if (this.#done) return;
    this.#done = final;
    if (typeof this.#handle === "string") this.#nc.publish(this.#handle, payload);
    else viaMsg(this.#handle);
  }
  ack(): void {
    this.#respond(ACK, true, (m) => m.ack());
  }
  nak(delayMs?: number): void {
    this.#respond(delayMs ? Buffer.from(`-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1e6) })}`) : NAK, true, (m) => m.nak(delayMs));
  }
  term(): void {
    this.#respond(TERM, true, (m) => m.term());
  }
  working(): void {
    this.#respond(WPI, false, (m) => m.working());
  }
}

class JsKv implements MarketKv {
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;
  readonly #pub: JsPublisher;
  /**
   * On a replicated bucket: writes also expect the whole stream's last sequence (see #put). The highest stream
   * sequence this client knows the bucket's full content up to: every message its watch delivered, and its
   * own writes. Undefined while the bucket is not watched here (writes then expect the key's sequence only).
   */
  readonly #serialWrites: boolean;
  #known: number | undefined;
  readonly #knownWaiters = new Set<{ seq: number; resolve: () => void }>();

  constructor(kv: KV, bucket: string, js: JetStreamClient, jsm: JetStreamManager, pub: JsPublisher, serialWrites = false) {
    this.#kv = kv;
    this.#bucket = bucket;
    this.#js = js;
    this.#jsm = jsm;
    this.#pub = pub;
    this.#serialWrites = serialWrites;
  }

  #learn(seq: number): void {
    if (this.#known === undefined || seq <= this.#known) return;
    this.#known = seq;
    for (const w of this.#knownWaiters) if (w.seq <= seq) w.resolve();
  }

  /** True once the watch has delivered the stream up to `seq`; false after `timeoutMs` (every wait times out). */
  #caughtUp(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.#known === undefined || this.#known >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { seq, resolve: () => done(true) };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (caughtUp: boolean) => {
        clearTimeout(timer);
        this.#knownWaiters.delete(waiter);
        resolve(caughtUp);
      };
      this.#knownWaiters.add(waiter);
    });
  }

  /**
   * KV write = publish on the key's subject, expecting `previous` as the key's last sequence (0: none).
   *
   * On a replicated stream nats-server (2.9.10 here, and by its issues #4320 and #8469 later ones across a leader
   * change) checks the key's expected sequence against what the leader has applied, before proposing: two writes
   * made on the same revision at nearly the same time are both stored (test/nats/cluster-cas.test.ts: every round
   * of six concurrent updates stored more than one). The second one silently drops what the first wrote (a
   * reservation), so a confirmed match read as unreserved and the job was sold again. The stream-wide expected
   * last sequence is checked against everything proposed, so a watched bucket's writes also expect the stream's
   * last sequence to be the highest one this client knows the bucket's content up to: then the key's `previous`
   * is its last value for certain, and of two writers on one revision only one is stored.
   */
  async #put(key: string, value: Uint8Array, previous: number): Promise<number> {
    if (!this.#serialWrites || this.#known === undefined) return this.#publish(key, value, previous, undefined, false);
    try {
      return await this.#publish(key, value, previous, Math.max(this.#known, previous), true);
    } catch (error) {
      if (!isWrongSequence(error)) throw error;
      // The server names the sequence it holds. Once the watch has delivered up to it, the caller's re-read and
      // retry expect a stream position that can pass.
      const held = Number(/wrong last sequence: (\d+)/i.exec((error as Error).message)?.[1]);
      if (!Number.isSafeInteger(held) || (await this.#caughtUp(held, 500))) throw error;
      // The watch is behind (its consumer moving to a new leader after a node's loss): a stream position from
      // the leader, read between two reads of the key that agree, is one at which the key's last is `previous`.
      const at = await this.#positionOf(key);
      if (at?.revision !== previous) throw error;
      return this.#publish(key, value, previous, at.streamSeq, false);
    }
  }

  /** The write itself; `learn`: `expectStream` is a position the watch delivered up to, so its ack extends it. */
  async #publish(key: string, value: Uint8Array, previous: number, expectStream: number | undefined, learn: boolean): Promise<number> {
    const pairs: Record<string, string> = { "Nats-Expected-Last-Subject-Sequence": String(previous) };
    if (expectStream !== undefined) pairs["Nats-Expected-Last-Sequence"] = String(expectStream);
    const h = previous === 0 && expectStream === undefined ? EXPECT_NEW_KEY : wireHeaders(pairs);
    const ack = await this.#pub.publish(`$KV.${this.#bucket}.${key}`, value, h);
    if (ack.error) throw ackError(ack.error);
    if (typeof ack.seq !== "number") throw new Error("invalid ack response");
    // Nothing was stored between `expectStream` and this write.
    if (learn) this.#learn(ack.seq);
    return ack.seq;
  }

  async #positionOf(key: string): Promise<{ revision: number; streamSeq: number } | undefined> {
    const stream = `KV_${this.#bucket}`;
    const subject = `$KV.${this.#bucket}.${key}`;
    const lastOfKey = async () => (await this.#jsm.streams.getMessage(stream, { last_by_subj: subject }))?.seq ?? 0;
    const before = await lastOfKey();
    const streamSeq = (await this.#jsm.streams.info(stream)).state.last_seq;
    return (await lastOfKey()) === before ? { revision: before, streamSeq } : undefined;
  }

  async get(key: string): Promise<KvRecord | null> {
    const e = await this.#kv.get(key);
    if (!e || e.operation !== "PUT") return null;
    return { value: e.value, revision: e.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.#put(key, value, 0);
    } catch (error) {
      if (!isWrongSequence(error)) throw new NtxError("NATS_KV", `${this.#bucket}/${key}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
    // The key has a last message: a value (exists), or a delete marker that kv.create writes over.
    try {
      return await this.#kv.create(key, value);
    } catch (error) {
      if (isWrongSequence(error) || (error instanceof Error && /exists/i.test(error.message))) {
        throw new NtxError("KV_EXISTS", `${this.#bucket}/${key} already exists`, { cause: error });
      }
      throw new NtxError("NATS_KV", `${this.#bucket}/${key}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    try {
      return await this.#put(key, value, revision);
    } catch (error) {
      if (isWrongSequence(error)) throw new NtxError("KV_CONFLICT", `${this.#bucket}/${key} changed since revision ${revision}`, { retryable: true, cause: error });
      throw new NtxError("NATS_KV", `${this.#bucket}/${key}: ${(error as Error).message}`, { retryable: true, cause: error });
    }
  }

  async watch(onEntry: (key: string, record: KvRecord | null) => void): Promise<Watch> {
    const prefix = `$KV.${this.#bucket}.`;
    const stream = `KV_${this.#bucket}`;
    // What the watch will have delivered once it caught up: known from then on (an empty bucket: from 0).
    const startSeq = this.#serialWrites ? (await this.#jsm.streams.info(stream)).state.last_seq : 0;
    let replayed = 0;
    const watch = await replayLatest(this.#js, this.#jsm, stream, `${prefix}>`, (subject, data, seq, headers) => {
      const op = headers?.get("KV-Operation");
      onEntry(subject.slice(prefix.length), op === "DEL" || op === "PURGE" ? null : { value: data, revision: seq });
      // After onEntry: the watcher's view includes this message before a write may expect it.
      replayed = Math.max(replayed, seq);
      if (this.#known !== undefined) this.#learn(seq);
    });
    if (this.#serialWrites) {
      void watch.ready.then(() => {
        // The replay delivered each key's last message: the bucket is known up to the highest of them (or the start).
        if (this.#known === undefined) this.#known = Math.max(startSeq, replayed);
      });
    }
    return watch;
  }
}

export interface NatsMarketTransport extends MarketTransport {
  close(): Promise<void>;
}

export async function createNatsMarketTransport(nc: NatsConnection): Promise<NatsMarketTransport> {
  const store = await ensureMarketInfrastructure(nc);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const stops: Array<() => Promise<void>> = [];
  const pub = new JsPublisher(nc);
  stops.push(async () => pub.close());
  const track = (w: Watch) => {
    stops.push(w.stop);
    return w;
  };
  const offerBook = new JsKv(store.offerBook, BucketNames.offerBook, js, jsm, pub);
  const nextBySubject = (stream: string, subject: string, seq: number) =>
    // The server's message-get (from the leader, not a replica) takes next_by_subj too; nats.js types it for direct gets only.
    jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number }).catch((error: unknown) => {
      if (error instanceof Error && /no message found/i.test(error.message)) return null;
      throw new NtxError("NATS_JS", `reading ${subject} from ${seq}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
    });
  const replicated = ((await jsm.streams.info(`KV_${BucketNames.capacity}`)).config.num_replicas ?? 1) > 1;
  const lastBySubject = (stream: string, subject: string) =>
    jsm.streams.getMessage(stream, { last_by_subj: subject }).catch((error: unknown) => {
      if (error instanceof Error && /no message found/i.test(error.message)) return null;
      throw new NtxError("NATS_JS", `reading the last message of ${subject}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
    });
  return {
    // Only the capacity records are watched by their writers (the matchers), which stream-wide expectations need.
    capacity: new JsKv(store.capacity, BucketNames.capacity, js, jsm, pub, replicated),
    jobs: new JsKv(store.jobs, BucketNames.jobs, js, jsm, pub),
    offerBook,

    async consumeBids(options: BidConsumerOptions, onBid: (m: InboundMessage) => void): Promise<Watch> {
      const config = {
        durable_name: options.durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: options.ackWaitMs * 1e6,
        max_ack_pending: options.maxAckPending,
        deliver_policy: DeliverPolicy.All,
        max_deliver: -1,
      };
      try {
        await jsm.consumers.add(StreamNames.bids, config);
      } catch (error) {
        // Same durable with other settings (a re-configured deployment): bring it in line.
        if (error instanceof Error && /already exists|already in use|different/i.test(error.message)) await jsm.consumers.update(StreamNames.bids, options.durable, config);
        else throw error;
      }
      const consumer = await js.consumers.get(StreamNames.bids, options.durable);
      const messages = await consumer.consume({
        max_messages: Math.min(options.maxAckPending, BID_PREFETCH),
        expires: PULL_EXPIRES_MS,
        callback: (m) => onBid(new JsInboundMessage(m, nc)),
      });
      return track({ ready: Promise.resolve(), stop: async () => void (await messages.close().catch(() => undefined)) });
    },

    async watchOffers(onOffer) {
      // The verified book first, so a restarted reader holds every provider's real offer whatever the raw
      // stream's last message per subject has become.
      const book = track(await offerBook.watch((key, record) => {
        if (record) onOffer(`${SUBJECT_ROOT}.offers.${key}`, record.value, record.revision);
      }));
      await book.ready;
      const raw = track(await replayLatest(js, jsm, StreamNames.offers, SubjectPatterns.offers, (subject, data) => onOffer(subject, data)));
      return { ready: raw.ready, stop: async () => { await raw.stop(); await book.stop(); } };
    },

    async park(jobHash, data, bidSeq) {
      const ack = await pub.publish(parkedSubject(jobHash), data, wireHeaders({ [BID_SEQ_HEADER]: String(bidSeq) }));
      if (ack.error) throw new NtxError("NATS_JS", `parking bid ${jobHash}: ${ackError(ack.error).message}`, { retryable: true });
    },

    async unpark(jobHash) {
      // An empty message replaces the parked bid (one message per subject).
      const ack = await pub.publish(parkedSubject(jobHash), new Uint8Array(0));
      if (ack.error) throw new NtxError("NATS_JS", `unparking bid ${jobHash}: ${ackError(ack.error).message}`, { retryable: true });
    },

    async watchParked(onParked) {
      const prefix = `${SUBJECT_ROOT}.parked.`;
      return track(
        await replayLatest(js, jsm, StreamNames.parked, SubjectPatterns.parked, (subject, data, _seq, headers) => {
          const bidSeq = Number(headers?.get(BID_SEQ_HEADER));
          onParked(subject.slice(prefix.length), data.length === 0 || !Number.isSafeInteger(bidSeq) ? null : data, bidSeq);
        }),
      );
    },

    async subscribeConfirms(onConfirm) {
      // An ordered consumer from now on: each message carries the time the server stored it.
      const consumer = await js.consumers.get(StreamNames.matches, { filter_subjects: SubjectPatterns.confirms, deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume({ expires: PULL_EXPIRES_MS, callback: (m) => onConfirm(m.subject, m.data, m.time.getTime()) });
      return track({ ready: Promise.resolve(), stop: async () => void (await messages.close().catch(() => undefined)) });
    },

    async confirmsAfter(jobHash, afterSeq, max) {
      const out: Array<{ data: Uint8Array; storedAt: number }> = [];
      let from = afterSeq + 1;
      for (let i = 0; i < max; i++) {
        const m = await nextBySubject(StreamNames.matches, confirmSubject(jobHash), from);
        if (!m) break;
        out.push({ data: m.data, storedAt: m.time.getTime() });
        from = m.seq + 1;
      }
      return out;
    },

    async subscribeJobEvents(onEvent) {
      const sub = nc.subscribe(SubjectPatterns.jobEvents, { callback: (_err, m) => onEvent(m.subject, m.data) });
      return track({ ready: nc.flush(), stop: async () => sub.unsubscribe() });
    },

    async lastMatch(jobHash) {
      const m = await lastBySubject(StreamNames.matches, matchSubject(jobHash));
      if (!m) return null;
      const bidSeq = Number(m.header?.get(BID_SEQ_HEADER));
      return { data: m.data, seq: m.seq, bidSeq: Number.isSafeInteger(bidSeq) && bidSeq > 0 ? bidSeq : undefined };
    },

    async publishMatch(jobHash, data, { matchId, bidSeq, expectedLastSeq }) {
      const headers = matchHeaders(matchId, expectedLastSeq, bidSeq);
      const ack = await pub.publish(matchSubject(jobHash), data, headers);
      if (ack.error) {
        const error = ackError(ack.error);
        if (isWrongSequence(error)) throw new NtxError("MATCH_EXISTS", `job ${jobHash} was matched by someone else first (${matchId} not stored)`);
        throw new NtxError("NATS_JS", `match ${matchId}: ${error.message}`, { retryable: true, cause: error });
      }
      if (typeof ack.seq !== "number") throw new NtxError("NATS_JS", `match ${matchId}: invalid ack`, { retryable: true });
      // The same matchId (job and attempt) already stored: this very document again (a retry) is fine; another
      // instance's (two took up one parked bid; each document names its matcher and time) is not this one's match,
      // whatever offer it chose: the server stored nothing of it.
      if (ack.duplicate) {
        const stored = ack.seq > 0 ? await jsm.streams.getMessage(StreamNames.matches, { seq: ack.seq }).catch(() => null) : null;
        if (!stored || !Buffer.from(stored.data).equals(Buffer.from(data))) throw new NtxError("MATCH_EXISTS", `job ${jobHash} was matched by someone else first (${matchId} already stored)`);
      }
      return ack.seq;
    },

    async close() {
      for (const stop of stops.splice(0)) await stop();
    },
  };
}
