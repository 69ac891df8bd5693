/**
 * Publishing and reading market messages for the other areas (provider daemon, API, CLI, tests), so none of
 * them imports the NATS client. Messages are passed already signed; this layer only moves bytes.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NtxError } from "../../offchain/errors.js";
import { StreamNames } from "./setup.js";
import { bidSubject, confirmSubject, jobEventsSubject, jobLogsSubject, matchSubject, offerSubject, SubjectPatterns } from "./subjects.js";

const encoder = new TextEncoder();

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return encoder.encode(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}

export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  /** POSIX ms the stream stored it. */
  time: number;
}

export interface JobHistory {
  bid: StoredMessage | null;
  matches: StoredMessage[];
  confirms: StoredMessage[];
  events: StoredMessage[];
  logs: StoredMessage[];
}

export interface MarketClient {
  /** Signed offer → `ntx.offers.<region>.<providerId>` (the stream keeps the latest per provider). */
  publishOffer(offer: { region: string; providerId: string }): Promise<void>;
  /** Signed bid → `ntx.bids.<jobHash>`, de-duplicated by jobHash within the stream's window. */
  publishBid(jobHash: string, bid: unknown): Promise<{ duplicate: boolean; seq: number }>;
  publishConfirm(jobHash: string, confirm: unknown): Promise<void>;
  publishJobEvent(jobHash: string, event: unknown): Promise<void>;
  /** Log lines are not signed and not kept forever: a size-bounded stream. */
  publishJobLog(jobHash: string, line: string | Uint8Array): Promise<void>;
  /** Raw JetStream publish of any market subject (tests of bad input). */
  publishRaw(subject: string, data: Uint8Array, msgId?: string): Promise<{ duplicate: boolean; seq: number }>;
  /** Live matches (all, or one job's); returns an unsubscribe function. */
  onMatch(callback: (subject: string, data: Uint8Array) => void, jobHash?: string): () => void;
  /** Every message currently stored in a market stream (bounded by `limit`). */
  readStream(stream: keyof typeof StreamNames, limit?: number): Promise<StoredMessage[]>;
  /** The last message stored under an exact subject, or null. */
  lastOf(stream: keyof typeof StreamNames, subject: string): Promise<StoredMessage | null>;
  /** Messages stored under one subject, oldest first, at most `limit` (direct gets: fine for one job). */
  history(stream: keyof typeof StreamNames, subject: string, limit?: number): Promise<StoredMessage[]>;
  /** Everything stored about one job: its bid, matches, confirmations, events and logs. */
  jobHistory(jobHash: string, limit?: number): Promise<JobHistory>;
  /** The bids consumer's counters: messages waiting and unacked. */
  bidConsumerInfo(durable?: string): Promise<{ pending: number; ackPending: number; redelivered: number } | null>;
}

export function createMarketClient(nc: NatsConnection): MarketClient {
  const js = jetstream(nc);
  const jsmPromise = jetstreamManager(nc);
  // Made eagerly but only awaited by the read methods: a client that never reads (a publisher) must not turn
  // this request's failure (e.g. a timeout while the connection closes) into an unhandled rejection.
  jsmPromise.catch(() => undefined);
  const getMessage = async (stream: keyof typeof StreamNames, query: { last_by_subj: string } | { seq: number; next_by_subj: string }): Promise<StoredMessage | null> => {
    try {
      const m = await (await jsmPromise).streams.getMessage(StreamNames[stream], query);
      return m ? { subject: m.subject, seq: m.seq, data: m.data, time: m.time.getTime() } : null;
    } catch (error) {
      if (error instanceof Error && /no message found/i.test(error.message)) return null;
      throw new NtxError("NATS_UNAVAILABLE", `reading ${StreamNames[stream]}: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
    }
  };
  const history = async (stream: keyof typeof StreamNames, subject: string, limit = 500): Promise<StoredMessage[]> => {
    const out: StoredMessage[] = [];
    let seq = 1;
    while (out.length < limit) {
      const m = await getMessage(stream, { seq, next_by_subj: subject });
      if (!m) break;
      out.push(m);
      seq = m.seq + 1;
    }
    return out;
  };
  const publish = async (subject: string, data: Uint8Array, msgId?: string) => {
    try {
      const ack = await js.publish(subject, data, msgId ? { msgID: msgId } : undefined);
      return { duplicate: ack.duplicate, seq: ack.seq };
    } catch (error) {
      throw new NtxError("NATS_PUBLISH", `publish to ${subject} failed: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
    }
  };
  return {
    async publishOffer(offer) {
      await publish(offerSubject(offer.region, offer.providerId), toBytes(offer));
    },
    publishBid: (jobHash, bid) => publish(bidSubject(jobHash), toBytes(bid), jobHash),
    async publishConfirm(jobHash, confirm) {
      await publish(confirmSubject(jobHash), toBytes(confirm));
    },
    async publishJobEvent(jobHash, event) {
      await publish(jobEventsSubject(jobHash), toBytes(event));
    },
    async publishJobLog(jobHash, line) {
      await publish(jobLogsSubject(jobHash), typeof line === "string" ? encoder.encode(line) : line);
    },
    publishRaw: (subject, data, msgId) => publish(subject, data, msgId),
    onMatch(callback, jobHash) {
      const sub = nc.subscribe(jobHash ? matchSubject(jobHash) : SubjectPatterns.matches, { callback: (_e, m) => callback(m.subject, m.data) });
      return () => sub.unsubscribe();
    },
    async readStream(stream, limit = 1_000_000) {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(StreamNames[stream]);
      const total = Math.min(info.state.messages, limit);
      const out: StoredMessage[] = [];
      if (total === 0) return out;
      const consumer = await js.consumers.get(StreamNames[stream], { deliver_policy: DeliverPolicy.All });
      const iter = await consumer.consume({ max_messages: 1_000 });
      for await (const m of iter) {
        out.push({ subject: m.subject, seq: m.seq, data: m.data, time: m.time.getTime() });
        if (out.length >= total || m.info.pending === 0) break;
      }
      await iter.close().catch(() => undefined);
      return out;
    },
    lastOf: (stream, subject) => getMessage(stream, { last_by_subj: subject }),
    history,
    async jobHistory(jobHash, limit = 500) {
      const [bid, matches, confirms, events, logs] = await Promise.all([
        getMessage("bids", { last_by_subj: bidSubject(jobHash) }),
        history("matches", matchSubject(jobHash), limit),
        history("matches", confirmSubject(jobHash), limit),
        history("jobEvents", jobEventsSubject(jobHash), limit),
        history("jobLogs", jobLogsSubject(jobHash), limit),
      ]);
      return { bid, matches, confirms, events, logs };
    },
    async bidConsumerInfo(durable = "ntx-matcher") {
      const jsm = await jetstreamManager(nc);
      try {
        const ci = await jsm.consumers.info(StreamNames.bids, durable);
        return { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered };
      } catch {
        return null;
      }
    },
  };
}
