/**
 * Per-job reads of the market's JetStream streams, for the job view and its Server-Sent Events: the stored
 * bid, match, confirmation, events and logs of one jobHash, then the live ones. It uses only the NatsConnection
 * it is handed (request/subscribe; JetStream's `STREAM.MSG.GET` API with `next_by_subj`, which nats-server 2.9
 * has), so no NATS client import leaves src/nats.
 * TODO(nats owner): this belongs in src/nats's MarketClient as `jobHistory(jobHash)` / `lastOf(subject)`.
 */
import { NtxError } from "../../offchain/errors.js";
import { BucketNames, StreamNames, bidSubject, confirmSubject, jobEventsSubject, jobLogsSubject, matchSubject, type NatsConnection } from "../nats/index.js";

export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  /** POSIX ms the stream stored it. */
  time: number;
}

export type StreamName = (typeof StreamNames)[keyof typeof StreamNames];

const encoder = new TextEncoder();
const NO_MESSAGE = 10037;

interface MsgGetResponse {
  message?: { subject: string; seq: number; data?: string; time: string };
  error?: { code: number; err_code?: number; description: string };
}

export function natsError(error: unknown, what: string): NtxError {
  if (error instanceof NtxError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new NtxError("NATS_UNAVAILABLE", `${what}: NATS did not answer (${message}); check that nats-server with JetStream is running`, { retryable: true, cause: error });
}

export class JobFeed {
  constructor(private readonly nc: NatsConnection, private readonly timeoutMs = 5_000) {}

  private async get(stream: StreamName, request: Record<string, unknown>): Promise<StoredMessage | null> {
    let reply: MsgGetResponse;
    try {
      const msg = await this.nc.request(`$JS.API.STREAM.MSG.GET.${stream}`, encoder.encode(JSON.stringify(request)), { timeout: this.timeoutMs });
      reply = msg.json<MsgGetResponse>();
    } catch (error) {
      throw natsError(error, `reading ${stream}`);
    }
    if (reply.error) {
      if (reply.error.err_code === NO_MESSAGE) return null;
      throw new NtxError("NATS_UNAVAILABLE", `reading ${stream}: ${reply.error.description}`, { retryable: true });
    }
    const m = reply.message!;
    return { subject: m.subject, seq: m.seq, data: Uint8Array.from(Buffer.from(m.data ?? "", "base64")), time: Date.parse(m.time) };
  }

  last(stream: StreamName, subject: string): Promise<StoredMessage | null> {
    return this.get(stream, { last_by_subj: subject });
  }

  /** Stored messages of one subject, oldest first, at most `limit`. */
  async history(stream: StreamName, subject: string, limit = 500): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let seq = 1;
    while (out.length < limit) {
      const m = await this.get(stream, { seq, next_by_subj: subject });
      if (!m) break;
      out.push(m);
      seq = m.seq + 1;
    }
    return out;
  }

  lastBid(jobHash: string) {
    return this.last(StreamNames.bids, bidSubject(jobHash));
  }

  /** What is stored about a job, by kind, the first `limits` of each (every stored message is one NATS request). */
  async jobHistory(jobHash: string, limits: { matches: number; confirms: number; events: number; logs: number }): Promise<{ matches: StoredMessage[]; confirms: StoredMessage[]; events: StoredMessage[]; logs: StoredMessage[] }> {
    const [matches, confirms, events, logs] = await Promise.all([
      this.history(StreamNames.matches, matchSubject(jobHash), limits.matches),
      this.history(StreamNames.matches, confirmSubject(jobHash), limits.confirms),
      this.history(StreamNames.jobEvents, jobEventsSubject(jobHash), limits.events),
      this.history(StreamNames.jobLogs, jobLogsSubject(jobHash), limits.logs),
    ]);
    return { matches, confirms, events, logs };
  }

  /** Live messages of a job (core subscriptions: the streams capture the same publishes). */
  subscribeJob(jobHash: string, onMessage: (kind: JobMessageKind, data: Uint8Array) => void): () => void {
    const subjects: Array<[JobMessageKind, string]> = [
      ["match", matchSubject(jobHash)],
      ["confirm", confirmSubject(jobHash)],
      ["event", jobEventsSubject(jobHash)],
      ["log", jobLogsSubject(jobHash)],
      // KV puts of the job record travel on this subject.
      ["record", `$KV.${BucketNames.jobs}.${jobHash}`],
    ];
    const subs = subjects.map(([kind, subject]) => this.nc.subscribe(subject, { callback: (error, m) => {
      if (!error) onMessage(kind, m.data);
    } }));
    return () => subs.forEach((s) => s.unsubscribe());
  }
}

export type JobMessageKind = "match" | "confirm" | "event" | "log" | "record";
