/**
 * Reads the market's streams, KV and object store with plain nats.js clients, not the project's code: what the
 * fault and load suites check is what the server holds.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";

export interface RawMessage {
  subject: string;
  seq: number;
  time: number;
  json: Record<string, unknown> | null;
  bytes: Uint8Array;
}

export interface RawReader {
  nc: NatsConnection;
  /** Every message the stream holds now, oldest first. */
  stream(name: "NTX_BIDS" | "NTX_MATCHES" | "NTX_JOB_EVENTS"): Promise<RawMessage[]>;
  jobRecord(jobHash: string): Promise<Record<string, unknown> | null>;
  jobRecords(jobHashes: string[]): Promise<Map<string, Record<string, unknown>>>;
  result(jobHash: string): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

const decoder = new TextDecoder();
function parse(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export async function openRawReader(url: string): Promise<RawReader> {
  const nc = await connect({ servers: url, name: "ntx-test-faults-reader", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const js = jetstream(nc, { timeout: 20_000 });
  let kv: KV | undefined;
  const jobs = async () => (kv ??= await new Kvm(nc).open("ntx-jobs"));
  return {
    nc,
    async stream(name) {
      const jsm = await jetstreamManager(nc, { timeout: 20_000 });
      const info = await jsm.streams.info(name);
      const out: RawMessage[] = [];
      if (info.state.messages === 0) return out;
      const consumer = await js.consumers.get(name, { deliver_policy: DeliverPolicy.All });
      const iter = await consumer.consume({ max_messages: 2_000 });
      for await (const m of iter) {
        out.push({ subject: m.subject, seq: m.seq, time: m.time.getTime(), json: parse(m.data), bytes: m.data });
        if (m.info.pending === 0 || m.seq >= info.state.last_seq) break;
      }
      await iter.close().catch(() => undefined);
      return out;
    },
    async jobRecord(jobHash) {
      const e = await (await jobs()).get(jobHash);
      return e && e.operation === "PUT" ? parse(e.value) : null;
    },
    async jobRecords(jobHashes) {
      const out = new Map<string, Record<string, unknown>>();
      const bucket = await jobs();
      for (let i = 0; i < jobHashes.length; i += 50) {
        const got = await Promise.all(jobHashes.slice(i, i + 50).map(async (h) => [h, await bucket.get(h)] as const));
        for (const [h, e] of got) if (e && e.operation === "PUT") out.set(h, parse(e.value)!);
      }
      return out;
    },
    async result(jobHash) {
      const os = await new Objm(nc).open("ntx-results");
      return os.getBlob(jobHash);
    },
    close: () => nc.close(),
  };
}
