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
  /** Bids that fit no offer yet, set aside by the matcher so they hold no slot of the bids consumer. */
  parked: "NTX_PARKED",
} as const;

export const BucketNames = {
  capacity: "ntx-capacity",
  jobs: "ntx-jobs",
  results: "ntx-results",
  /** The verified offer book: latest offer per `<region>.<providerId>`, written only by matchers. */
  offerBook: "ntx-offer-book",
} as const;

const DAY_NS = 24 * 3600 * 1e9;
const MINUTE_NS = 60 * 1e9;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Largest market message (MAX_MESSAGE_BYTES); a match embeds a bid and an offer, so it may be three times that. */
const MESSAGE = 64 * KiB;

/**
 * Every stream, bucket and store is bounded in age, messages, bytes, message size and, where one subject could
 * be flooded, messages per subject (the README's configuration table lists them). Where a full stream must not
 * lose what it holds (bids, matches, parked bids) it refuses new messages (discard new); logs, events and
 * offers drop their oldest. The byte limits total about 32 GiB: JetStream reserves them against its store.
 */
export function marketStreamConfigs(replicas = 1): Partial<StreamConfig>[] {
  const base = { storage: StorageType.File, retention: RetentionPolicy.Limits, num_replicas: replicas };
  return [
    // Latest offer per provider subject; a provider that stops re-publishing ages out of the stream.
    { ...base, name: StreamNames.offers, subjects: [SubjectPatterns.offers], max_msgs_per_subject: 1, max_age: 15 * MINUTE_NS, max_msgs: 200_000, max_bytes: 1 * GiB, max_msg_size: MESSAGE, discard: DiscardPolicy.Old },
    // Bids are published with Nats-Msg-Id = jobHash, so a retried publish within the window is stored once.
    { ...base, name: StreamNames.bids, subjects: [SubjectPatterns.bids], max_age: 7 * DAY_NS, max_msgs: 5_000_000, max_bytes: 4 * GiB, max_msg_size: MESSAGE, max_msgs_per_subject: 16, duplicate_window: 2 * MINUTE_NS, discard: DiscardPolicy.New },
    { ...base, name: StreamNames.matches, subjects: [SubjectPatterns.matchesAll], max_age: 30 * DAY_NS, max_msgs: 10_000_000, max_bytes: 8 * GiB, max_msg_size: 3 * MESSAGE, max_msgs_per_subject: 32, duplicate_window: 2 * MINUTE_NS, discard: DiscardPolicy.New },
    { ...base, name: StreamNames.jobEvents, subjects: [SubjectPatterns.jobEvents], max_age: 30 * DAY_NS, max_msgs: 20_000_000, max_bytes: 4 * GiB, max_msg_size: MESSAGE, max_msgs_per_subject: 1_000, discard: DiscardPolicy.Old },
    { ...base, name: StreamNames.jobLogs, subjects: [SubjectPatterns.jobLogs], max_age: 7 * DAY_NS, max_msgs: 20_000_000, max_bytes: 1 * GiB, max_msg_size: MESSAGE, max_msgs_per_subject: 10_000, discard: DiscardPolicy.Old },
    { ...base, name: StreamNames.parked, subjects: [SubjectPatterns.parked], max_age: 2 * DAY_NS, max_msgs: 1_000_000, max_bytes: 2 * GiB, max_msg_size: MESSAGE, max_msgs_per_subject: 1, discard: DiscardPolicy.New },
  ];
}

/** KV buckets and the object store, with their bounds (see marketStreamConfigs). */
export const BUCKET_LIMITS = {
  // History 1 on capacity: only the latest record matters and compare-and-set works on its revision.
  // Outlives any reservation (a bid deadline is at most 30 days ahead).
  capacity: { history: 1, max_bytes: 1 * GiB, maxValueSize: 1 * MiB, ttl: 31 * 24 * 3_600_000 },
  jobs: { history: 5, max_bytes: 2 * GiB, maxValueSize: 16 * KiB, ttl: 30 * 24 * 3_600_000 },
  offerBook: { history: 1, max_bytes: 1 * GiB, maxValueSize: MESSAGE, ttl: 24 * 3_600_000 },
  /** The object store counts its ttl in nanoseconds. */
  results: { max_bytes: 8 * GiB, ttl: 30 * DAY_NS },
} as const;

/** Replicas of a JetStream raft group: 3 survives the loss of any one node; 2 would stop at the loss of either. */
const CLUSTER_REPLICAS = 3;

/**
 * How many copies every stream, bucket and store keeps: `requested` (an option, or NTX_NATS_REPLICAS) when given,
 * else 3 on a cluster the server says has at least 3 nodes and 1 on a single server. The cluster's size is read
 * from the client URLs the server advertises (`connect_urls`); a cluster that does not advertise them
 * (`no_advertise`) needs NTX_NATS_REPLICAS=3.
 */
export function marketReplicas(nc: NatsConnection, requested: number | string | undefined = process.env.NTX_NATS_REPLICAS): number {
  if (requested !== undefined && requested !== "") {
    const n = Number(requested);
    if (!Number.isInteger(n) || n < 1 || n > 5) throw new NtxError("NATS_REPLICAS_INVALID", `replicas must be an integer from 1 to 5 (JetStream's limit), not ${String(requested)}`);
    return n;
  }
  const info = nc.info;
  if (!info?.cluster) return 1;
  return (info.connect_urls?.length ?? 1) >= CLUSTER_REPLICAS ? CLUSTER_REPLICAS : 1;
}

/**
 * KV buckets and object stores are streams underneath (`KV_<name>`, `OBJ_<name>`); their clients' create only
 * opens one that exists, so a bucket made on a single node would keep 1 replica on a cluster. This brings the
 * backing stream to `replicas` (JetStream moves the data over) and, with `leaderReads`, turns direct (any
 * replica) reads off. Says whether the reads changed.
 */
async function ensureReplicas(jsm: JetStreamManager, stream: string, replicas: number, leaderReads = false): Promise<boolean> {
  const info = await jsm.streams.info(stream);
  const wrongReplicas = (info.config.num_replicas || 1) !== replicas;
  const wrongReads = leaderReads && info.config.allow_direct;
  if (!wrongReplicas && !wrongReads) return false;
  await jsm.streams.update(stream, { ...info.config, num_replicas: replicas, ...(leaderReads ? { allow_direct: false } : {}) });
  return Boolean(wrongReads);
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
  offerBook: KV;
}

const isPermissionError = (error: unknown) => error instanceof Error && /permission/i.test(error.message);

/**
 * Opens what the matcher has set up, for a role that may not create or change streams (providers, the API
 * under the shipped permissions): every stream must exist already.
 */
async function openMarketInfrastructure(nc: NatsConnection): Promise<MarketStore> {
  const jsm = await jetstreamManager(nc);
  for (const config of marketStreamConfigs()) await jsm.streams.info(config.name!);
  const kvm = new Kvm(nc);
  const [capacity, jobs, offerBook] = await Promise.all([kvm.open(BucketNames.capacity), kvm.open(BucketNames.jobs), kvm.open(BucketNames.offerBook)]);
  await new Objm(nc).open(BucketNames.results);
  return { capacity, jobs, offerBook };
}

export interface MarketSetupOptions {
  /** Copies of every stream, bucket and store (default: marketReplicas). */
  replicas?: number;
}

/**
 * A cluster that has just (re)formed answers JetStream calls before its meta leader knows every peer's storage,
 * or while it elects one: "no suitable peers for placement", "JetStream system temporarily unavailable". Such an
 * answer passes within seconds, so setup retries it (bounded), as a person would.
 */
const CLUSTER_SETTLING = /no suitable peers|temporarily unavailable|insufficient resources|jetstream not (enabled|ready)|timeout/i;
const SETTLE_TIMEOUT_MS = 30_000;

/** Creates (or finds) every market stream and bucket; returns the KV buckets. */
export async function ensureMarketInfrastructure(nc: NatsConnection, options: MarketSetupOptions = {}): Promise<MarketStore> {
  const replicas = options.replicas ?? marketReplicas(nc);
  const deadline = Date.now() + (replicas > 1 ? SETTLE_TIMEOUT_MS : 0);
  for (;;) {
    try {
      return await ensureMarketInfrastructureOnce(nc, replicas);
    } catch (error) {
      const text = `${error instanceof Error ? error.message : String(error)} ${String((error as { cause?: unknown })?.cause ?? "")}`;
      if (!CLUSTER_SETTLING.test(text) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function ensureMarketInfrastructureOnce(nc: NatsConnection, replicas: number): Promise<MarketStore> {
  try {
    return await createMarketInfrastructure(nc, replicas);
  } catch (error) {
    if (!isPermissionError(error) && !isPermissionError((error as { cause?: unknown })?.cause)) throw error;
    try {
      return await openMarketInfrastructure(nc);
    } catch (openError) {
      throw new NtxError("NATS_SETUP", `this NATS user may not set up the market's streams, and they are not all there yet (start the matcher first): ${openError instanceof Error ? openError.message : String(openError)}`, { retryable: true, cause: openError });
    }
  }
}

async function createMarketInfrastructure(nc: NatsConnection, replicas: number): Promise<MarketStore> {
  try {
    const jsm = await jetstreamManager(nc);
    for (const config of marketStreamConfigs(replicas)) await ensureStream(jsm, config);
    const kvm = new Kvm(nc);
    // On a cluster the capacity and job records are read from their stream's leader, never directly from a
    // replica: a replica may not have applied a write the leader already acknowledged, and a matcher that reads
    // its own reservation back as missing would take a confirmed match for a lapsed one and sell the bid again.
    const leaderReads = replicas > 1 ? { allow_direct: false } : {};
    const capacity = await kvm.create(BucketNames.capacity, { ...BUCKET_LIMITS.capacity, storage: StorageType.File, replicas, ...leaderReads });
    const jobs = await kvm.create(BucketNames.jobs, { ...BUCKET_LIMITS.jobs, storage: StorageType.File, replicas, ...leaderReads });
    const offerBook = await kvm.create(BucketNames.offerBook, { ...BUCKET_LIMITS.offerBook, storage: StorageType.File, replicas });
    await new Objm(nc).create(BucketNames.results, { ...BUCKET_LIMITS.results, storage: StorageType.File, replicas });
    const changed = await Promise.all([
      ensureReplicas(jsm, `KV_${BucketNames.capacity}`, replicas, replicas > 1),
      ensureReplicas(jsm, `KV_${BucketNames.jobs}`, replicas, replicas > 1),
      ensureReplicas(jsm, `KV_${BucketNames.offerBook}`, replicas),
      ensureReplicas(jsm, `OBJ_${BucketNames.results}`, replicas),
    ]);
    // A bucket whose reads just moved to the leader must be opened again for its client to read that way.
    if (changed[0] || changed[1]) return { capacity: await kvm.open(BucketNames.capacity), jobs: await kvm.open(BucketNames.jobs), offerBook };
    return { capacity, jobs, offerBook };
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
    return await new Objm(nc).create(BucketNames.results, { ...BUCKET_LIMITS.results, storage: StorageType.File, replicas: marketReplicas(nc) }).catch((error: unknown) => {
      if (isPermissionError(error)) return new Objm(nc).open(BucketNames.results);
      throw error;
    });
  } catch (error) {
    throw new NtxError("NATS_SETUP", `cannot open the results object store: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
  }
}

export type { ObjectStore, KV };
