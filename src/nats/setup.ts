/**
 * Idempotent creation of the JetStream streams, KV buckets and object store the market uses. Safe to run from
 * every component at start-up: an existing stream is left as it is when its config matches and updated
 * otherwise. Everything here works on nats-server 2.9 (no filter_subjects, no per-key TTL, no metadata).
 */
import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { NtxError } from "../../offchain/errors.js";
import { SubjectPatterns } from "./subjects.js";

export const StreamNames = {
  offers: "NTX_OFFERS",
  bids: "NTX_BIDS",
  matches: "NTX_MATCHES",
  jobEvents: "NTX_JOB_EVENTS",
  jobLogs: "NTX_JOB_LOGS",
} as const;

export const BucketNames = {
  capacity: "ntx-capacity",
  jobs: "ntx-jobs",
  results: "ntx-results",
} as const;

const DAY_NS = 24 * 3600 * 1e9;
const MINUTE_NS = 60 * 1e9;

export function marketStreamConfigs(): Partial<StreamConfig>[] {
  return [
    // Latest offer per provider subject; a provider that stops re-publishing ages out of the stream.
    { name: StreamNames.offers, subjects: [SubjectPatterns.offers], max_msgs_per_subject: 1, max_age: 15 * MINUTE_NS, discard: DiscardPolicy.Old, storage: StorageType.File, retention: RetentionPolicy.Limits },
    // Bids are published with Nats-Msg-Id = jobHash, so a retried publish within the window is stored once.
    { name: StreamNames.bids, subjects: [SubjectPatterns.bids], max_age: 7 * DAY_NS, duplicate_window: 2 * MINUTE_NS, storage: StorageType.File, retention: RetentionPolicy.Limits },
    { name: StreamNames.matches, subjects: [SubjectPatterns.matchesAll], max_age: 30 * DAY_NS, duplicate_window: 2 * MINUTE_NS, storage: StorageType.File, retention: RetentionPolicy.Limits },
    { name: StreamNames.jobEvents, subjects: [SubjectPatterns.jobEvents], max_age: 30 * DAY_NS, storage: StorageType.File, retention: RetentionPolicy.Limits },
    { name: StreamNames.jobLogs, subjects: [SubjectPatterns.jobLogs], max_age: 7 * DAY_NS, max_bytes: 1024 ** 3, max_msg_size: 64 * 1024, discard: DiscardPolicy.Old, storage: StorageType.File, retention: RetentionPolicy.Limits },
  ];
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig>): Promise<void> {
  const name = config.name!;
  try {
    const info = await jsm.streams.info(name);
    const current = info.config as unknown as Record<string, unknown>;
    const differs = Object.entries(config).some(([k, v]) => JSON.stringify(current[k]) !== JSON.stringify(v));
    if (differs) await jsm.streams.update(name, { ...info.config, ...config } as StreamConfig);
  } catch (error) {
    if (!(error instanceof Error) || !/stream not found/i.test(error.message)) throw error;
    try {
      await jsm.streams.add({ ...config, name });
    } catch (addError) {
      // Another component created it between our info and add: fine.
      if (!(addError instanceof Error) || !/already in use/i.test(addError.message)) throw addError;
    }
  }
}

export interface MarketStore {
  capacity: KV;
  jobs: KV;
}

/** Creates (or finds) every market stream and bucket; returns the two KV buckets. */
export async function ensureMarketInfrastructure(nc: NatsConnection): Promise<MarketStore> {
  try {
    const jsm = await jetstreamManager(nc);
    for (const config of marketStreamConfigs()) await ensureStream(jsm, config);
    const kvm = new Kvm(nc);
    // History 1 on capacity: only the latest record matters and compare-and-set works on its revision.
    const capacity = await kvm.create(BucketNames.capacity, { history: 1, storage: StorageType.File });
    const jobs = await kvm.create(BucketNames.jobs, { history: 5, storage: StorageType.File });
    await new Objm(nc).create(BucketNames.results, { storage: StorageType.File });
    return { capacity, jobs };
  } catch (error) {
    if (error instanceof NtxError) throw error;
    throw new NtxError("NATS_SETUP", `cannot set up the market's JetStream streams/buckets: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
  }
}

/**
 * The results object store (job outputs, written by providers, read by buyers). Created if missing, so a
 * provider can store results without the matcher having run first.
 */
export async function openResultStore(nc: NatsConnection): Promise<ObjectStore> {
  try {
    return await new Objm(nc).create(BucketNames.results, { storage: StorageType.File });
  } catch (error) {
    throw new NtxError("NATS_SETUP", `cannot open the results object store: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
  }
}

export type { ObjectStore, KV };
