/**
 * The market on a real 3-node NATS cluster, for the cluster fault tests and the bench: the shipped role users and
 * permissions on every node, every stream/bucket/store at 3 replicas, two matcher instances (one consumer group),
 * providers that publish signed offers and confirm their matches (no-op runner: nothing runs), and buyers that
 * publish signed bids at a steady rate. What the tests judge is read back from the cluster with a raw JetStream
 * client, not through the project's market client.
 */
import { readFile } from "node:fs/promises";
import { jetstream, jetstreamManager, DeliverPolicy } from "@nats-io/jetstream";
import { connect, type NatsConnection as RawConnection } from "@nats-io/transport-node";
import { decodeBid } from "../../src/market/decode.js";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { createMatcher, type Matcher } from "../../src/market/matcher.js";
import type { BidInput, MatchInput } from "../../src/market/schemas.js";
import { connectNats, createMarketClient, createNatsMarketTransport, ensureMarketInfrastructure, type NatsConnection, type NatsMarketTransport } from "../../src/nats/index.js";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.js";
import { ROLE_PASSWORDS, type NatsRole } from "../helpers/nats.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, type Provider } from "../market/fixtures.js";

export const MARKET_STREAMS = ["NTX_OFFERS", "NTX_BIDS", "NTX_MATCHES", "NTX_JOB_EVENTS", "NTX_JOB_LOGS", "NTX_PARKED", "KV_ntx-capacity", "KV_ntx-jobs", "KV_ntx-offer-book", "OBJ_ntx-results"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface ClusterMarketOptions {
  matchers?: number;
  providers?: number;
  /** Cores each provider offers: capacity for every bid the run sends, so each bid is matched exactly once. */
  coresPerProvider?: number;
  verifyWorkers?: number;
}

export interface MatchSeen {
  jobHash: string;
  matcherId: string;
  at: number;
}

export interface ClusterMarket {
  cluster: NatsCluster;
  matchers: Matcher[];
  providers: Provider[];
  coresPerProvider: number;
  /** Every match as a matcher reported it stored, in order. */
  seen: MatchSeen[];
  confirmsSent(): number;
  connect(role: NatsRole, name: string): Promise<NatsConnection>;
  /** A connection outside the project's code, as the matcher role (it may read every stream). */
  raw(): Promise<RawConnection>;
  close(): Promise<void>;
}

export async function startClusterMarket(options: ClusterMarketOptions = {}): Promise<ClusterMarket> {
  for (const [role, pw] of Object.entries(ROLE_PASSWORDS)) process.env[`NTX_NATS_${role.toUpperCase()}_PASSWORD`] = pw;
  const permissions = await readFile(new URL("../../config/nats/permissions.conf", import.meta.url), "utf8");
  const cluster = await startNatsCluster({ nodes: 3, config: permissions });
  const connections: NatsConnection[] = [];
  const transports: NatsMarketTransport[] = [];
  const raws: RawConnection[] = [];
  const stops: Array<() => void | Promise<void>> = [];
  const matchers: Matcher[] = [];
  const seen: MatchSeen[] = [];
  let confirms = 0;

  const connectAs = async (role: NatsRole, name: string) => {
    // Every URL of the cluster, as an operator would configure a component; reconnects forever, as daemons do.
    const nc = await connectNats({ servers: cluster.url, user: role, pass: ROLE_PASSWORDS[role], name, maxReconnectAttempts: -1, timeoutMs: 10_000 });
    connections.push(nc);
    return nc;
  };
  const market: ClusterMarket = {
    cluster,
    matchers,
    providers: [],
    coresPerProvider: options.coresPerProvider ?? 256,
    seen,
    confirmsSent: () => confirms,
    connect: connectAs,
    async raw() {
      const nc = await connect({ servers: cluster.urls, user: "matcher", pass: ROLE_PASSWORDS.matcher, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      raws.push(nc);
      return nc;
    },
    async close() {
      for (const stop of stops) await Promise.resolve(stop()).catch(() => undefined);
      for (const m of matchers) await m.stop().catch(() => undefined);
      for (const t of transports) await t.close().catch(() => undefined);
      for (const c of [...connections, ...raws]) await c.close().catch(() => undefined);
      await cluster.stop();
    },
  };
  try {
    const admin = await connectAs("matcher", "cluster-admin");
    await ensureMarketInfrastructure(admin);
    await cluster.waitForStreamsCurrent(MARKET_STREAMS, 3, 60_000);

    // Providers: signed offers, then a confirmation for each match of theirs, read from the matches stream.
    const providerCount = options.providers ?? 6;
    for (let i = 0; i < providerCount; i++) {
      const provider = newProvider();
      market.providers.push(provider);
      const nc = await connectAs("provider", `provider-${i}`);
      const client = createMarketClient(nc);
      await client.publishOffer(makeOffer(provider, { region: ["eu", "us"][i % 2]!, resources: { cpuCores: market.coresPerProvider, memoryMiB: market.coresPerProvider * 1024, diskGiB: 10_000, gpus: [] } }));
      const js = jetstream(nc);
      // An ordered consumer survives a node's loss: the client re-creates it from the last sequence it saw.
      const consumer = await js.consumers.get("NTX_MATCHES", { filter_subjects: "ntx.matches.*", deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume({
        // As the product's consumers: a pull to a dead node is noticed within ~5 s.
        expires: 5_000,
        callback: (m) => {
          const match = JSON.parse(new TextDecoder().decode(m.data)) as MatchInput;
          if (match.offer.providerId !== provider.id) return;
          const confirm = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: match.matchId, jobHash: match.jobHash, providerId: provider.id, confirmedAt: Date.now() });
          void publishWithRetry(() => client.publishConfirm(match.jobHash, confirm), 60_000).then(() => void confirms++, () => undefined);
        },
      });
      stops.push(() => messages.close().then(() => undefined));
    }

    for (let i = 0; i < (options.matchers ?? 2); i++) {
      const nc = await connectAs("matcher", `matcher-${i}`);
      const transport = await createNatsMarketTransport(nc);
      transports.push(transport);
      const matcher = createMatcher({
        transport,
        matcherId: `m${i}`,
        durable: "cluster",
        verifyWorkers: options.verifyWorkers ?? 1,
        // The product's default (`ntx up`): a confirmation held up by a failover on a loaded machine may
        // lapse a match (which matches the bid again, legitimately: judge() tells that from a double match). The
        // bids' ack wait follows it (window + 30 s): how long a bid whose ack or nak died with a node waits.
        confirmWindowMs: 10_000,
        onMatch: (m) => void seen.push({ jobHash: m.jobHash, matcherId: m.matcherId, at: Date.now() }),
      });
      await matcher.start();
      matchers.push(matcher);
    }
    await waitUntil("every matcher to hold every offer", () => matchers.every((m) => m.book.size === providerCount), 30_000);
  } catch (error) {
    await market.close();
    throw error;
  }
  return market;
}

/** Retries a JetStream publish through a failover (no responders, timeouts) until `timeoutMs`. */
export async function publishWithRetry<T>(publish: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await publish();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

export interface SignedBid {
  jobHash: string;
  bid: BidInput;
}

export function signedBids(count: number): SignedBid[] {
  const buyers = Array.from({ length: 10 }, () => newBuyer());
  return Array.from({ length: count }, (_, i) => {
    const bid = makeBid(buyers[i % buyers.length]!, {}, { resources: { cpuCores: 1, memoryMiB: 1024, diskGiB: 1 } });
    const decoded = decodeBid(json(bid), { now: Date.now() });
    if (!decoded.ok) throw new Error("fixture bid does not decode");
    return { jobHash: decoded.value.jobHash, bid };
  });
}

export interface LoadRun {
  /** Bids the cluster acknowledged (stored), with when their first publish was tried. */
  acked: Map<string, number>;
  /** Bids whose publish never got an ack within its retry budget (a buyer would see an error and resend). */
  unacked: string[];
}

/**
 * Publishes `bids` at `ratePerSec` from a buyer connection, each retried through failovers until stored (the
 * Nats-Msg-Id = jobHash de-duplicates a retry the server did store). `during(ms)` hooks run at their offsets.
 */
export async function runLoad(market: ClusterMarket, bids: SignedBid[], ratePerSec: number, events: Array<{ atMs: number; run: () => Promise<void> }> = []): Promise<LoadRun> {
  const nc = await market.connect("buyer", "buyer");
  const client = createMarketClient(nc);
  const acked = new Map<string, number>();
  const unacked: string[] = [];
  const inflight: Promise<void>[] = [];
  const start = Date.now();
  const pending = [...events].sort((a, b) => a.atMs - b.atMs);
  const eventRuns: Promise<void>[] = [];
  for (let i = 0; i < bids.length; i++) {
    while (pending.length && Date.now() - start >= pending[0]!.atMs) eventRuns.push(pending.shift()!.run());
    const due = start + (i * 1000) / ratePerSec;
    if (due > Date.now()) await sleep(due - Date.now());
    const b = bids[i]!;
    const triedAt = Date.now();
    inflight.push(
      publishWithRetry(() => client.publishBid(b.jobHash, b.bid), 60_000).then(
        () => void acked.set(b.jobHash, triedAt),
        () => void unacked.push(b.jobHash),
      ),
    );
  }
  while (pending.length) eventRuns.push(pending.shift()!.run());
  await Promise.all([...inflight, ...eventRuns]);
  return { acked, unacked };
}

export interface StoredMatches {
  /** Match messages per jobHash (confirmations excluded). */
  perJob: Map<string, MatchInput[]>;
  confirms: number;
  /** When the server stored each match's first confirmation, by matchId. */
  confirmedAt: Map<string, number>;
}

/** Reads the whole matches stream back with a raw ordered consumer. */
export async function readMatches(market: ClusterMarket): Promise<StoredMatches> {
  const nc = await market.raw();
  const jsm = await jetstreamManager(nc);
  // Read up to the stream's last sequence as its leader reports it, asked again once that is reached: right after a
  // failover a new leader may report a count it has not caught up to yet (one CI run read 23 matches short of what
  // the matchers had stored, all at the end), and a one-shot count would end the read early.
  const lastSeq = async () => (await jsm.streams.info("NTX_MATCHES")).state.last_seq;
  let target = await lastSeq();
  const js = jetstream(nc);
  const consumer = await js.consumers.get("NTX_MATCHES", { deliver_policy: DeliverPolicy.All });
  const perJob = new Map<string, MatchInput[]>();
  const confirmedAt = new Map<string, number>();
  let confirms = 0;
  if (target > 0) {
    const messages = await consumer.consume();
    const deadline = Date.now() + 60_000;
    for await (const m of messages) {
      if (m.subject.endsWith(".confirm")) {
        confirms++;
        const matchId = (JSON.parse(new TextDecoder().decode(m.data)) as { matchId?: string }).matchId ?? "";
        if (!confirmedAt.has(matchId)) confirmedAt.set(matchId, m.time.getTime());
      } else {
        const match = JSON.parse(new TextDecoder().decode(m.data)) as MatchInput;
        perJob.set(match.jobHash, [...(perJob.get(match.jobHash) ?? []), match]);
      }
      if (m.seq >= target) {
        const now = await lastSeq();
        if (now <= m.seq || Date.now() > deadline) break;
        target = now;
      }
    }
    await messages.close().catch(() => undefined);
  }
  return { perJob, confirms, confirmedAt };
}

/**
 * A job is matched twice when a later match of it was stored while an earlier one still held: before the
 * earlier one's `confirmBy`, or at all after the earlier one was confirmed in time. (A match that lapsed
 * unconfirmed is legitimately followed by the next attempt.)
 */
export function isMatchedTwice(matches: MatchInput[], confirmedAt: Map<string, number>): boolean {
  const byTime = [...matches].sort((a, b) => a.matchedAt - b.matchedAt);
  for (let i = 0; i < byTime.length; i++) {
    const earlier = byTime[i]!;
    const confirmed = confirmedAt.get(earlier.matchId);
    const held = confirmed !== undefined && confirmed <= earlier.confirmBy;
    for (const later of byTime.slice(i + 1)) if (held || later.matchedAt < earlier.confirmBy) return true;
  }
  return false;
}

export interface FaultOutcome {
  killed: string;
  role: string;
  bidsAcked: number;
  bidsUnacked: number;
  lost: number;
  /** Up to 3 lost bids with what the matchers reported of them (a match they said was stored): what to look at. */
  lostSeen: Array<{ jobHash: string; seen: Array<{ matcherId: string; at: number }> }>;
  matchedTwice: number;
  /**
   * Providers whose cores, by the README's capacity rules as seen from the stream (see oversold()), were held
   * past their offer at some moment. An estimate from outside: the matcher's ledger also ends a pending
   * reservation 60 s after its window when no matcher lapsed or confirmed it.
   */
  oversoldProviders: number;
  oversoldPeaks: Array<{ providerId: string; peakCores: number }>;
  /** From the kill to the first match of a bid first sent after the kill. */
  resumeMs: number;
  /** Longest time between two consecutive matches, from 1 s before the kill on. */
  longestGapMs: number;
  /** Jobs with more than one match (a lapse followed by the next attempt, or a double match). */
  rematched: number;
  /** Up to 3 jobs matched twice (isMatchedTwice), with each match's id, attempt, matcher and time: what to look at. */
  doubles: Array<Array<{ matchId: string; attempt: number; matcherId: string; matchedAt: number; confirmBy: number; confirmedAt?: number; providerId: string }>>;
}

/**
 * Judges a run: every acknowledged bid has exactly one stored match, no provider is sold past its capacity, and
 * matching went on after the kill (how soon is measured, for the report and the heavy tier).
 */
export async function judge(market: ClusterMarket, load: LoadRun, bidsInRun: Set<string>, kill: { at: number; node: string; role: string }, allMatchesTimeoutMs: number): Promise<FaultOutcome> {
  await waitUntil(`a match for each of the ${load.acked.size} stored bids`, () => [...load.acked.keys()].every((h) => market.seen.some((s) => s.jobHash === h)) || undefined, allMatchesTimeoutMs).catch(() => undefined);
  const stored = await publishWithRetry(() => readMatches(market), 60_000);
  const lostJobs = [...load.acked.keys()].filter((h) => !stored.perJob.has(h));
  const lost = lostJobs.length;
  const lostSeen = lostJobs.slice(0, 3).map((h) => ({ jobHash: h.slice(0, 16), seen: market.seen.filter((s) => s.jobHash === h).map((s) => ({ matcherId: s.matcherId, at: s.at - kill.at })) }));
  const matchedTwice = [...stored.perJob.values()].filter((ms) => isMatchedTwice(ms, stored.confirmedAt)).length;
  const oversoldPeaks = oversold(stored, market.coresPerProvider);
  const oversoldProviders = oversoldPeaks.length;
  const after = market.seen.filter((s) => bidsInRun.has(s.jobHash) && (load.acked.get(s.jobHash) ?? 0) >= kill.at);
  const resumeMs = after.length ? Math.min(...after.map((s) => s.at)) - kill.at : Infinity;
  const times = market.seen.filter((s) => bidsInRun.has(s.jobHash) && s.at >= kill.at - 1_000).map((s) => s.at).sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i]! - times[i - 1]!);
  const rematched = [...stored.perJob.values()].filter((ms) => ms.length > 1).length;
  const doubles = [...stored.perJob.values()].filter((ms) => isMatchedTwice(ms, stored.confirmedAt)).slice(0, 3).map((ms) => ms.map((m) => ({ matchId: m.matchId, attempt: m.attempt, matcherId: m.matcherId, matchedAt: m.matchedAt, confirmBy: m.confirmBy, ...(stored.confirmedAt.has(m.matchId) ? { confirmedAt: stored.confirmedAt.get(m.matchId)! } : {}), providerId: m.offer.providerId.slice(0, 10) })));
  return { killed: kill.node, role: kill.role, bidsAcked: load.acked.size, bidsUnacked: load.unacked.length, lost, lostSeen, matchedTwice, rematched, oversoldProviders, oversoldPeaks, resumeMs, longestGapMs, doubles };
}

/** The capacity's grace for a pending reservation (src/market/capacity.ts PENDING_GRACE_MS), restated from its doc. */
const PENDING_GRACE_MS = 60_000;

/**
 * Providers sold past their cores at some moment, by the capacity rules the README states: a match holds its
 * cores from when it was stored until, if confirmed in time, the lock window after the confirmation (nobody locks
 * here), else until its lapse (the job's next match), at most its confirmation window plus the pending grace.
 * Summed at each match's time, per provider.
 */
export function oversold(stored: StoredMatches, cores: number): Array<{ providerId: string; peakCores: number }> {
  const holds = new Map<string, Array<{ from: number; to: number; cores: number }>>();
  for (const ms of stored.perJob.values()) {
    const byTime = [...ms].sort((a, b) => a.matchedAt - b.matchedAt);
    for (const [i, m] of byTime.entries()) {
      const confirmed = stored.confirmedAt.get(m.matchId);
      // Unconfirmed in time: held until the matcher lapses it, which it shows by storing the next attempt (the
      // grace bounds a matcher that died first).
      const next = byTime[i + 1];
      const to = confirmed !== undefined && confirmed <= m.confirmBy ? confirmed + m.offer.terms.lockWindowMs : Math.min(m.confirmBy + PENDING_GRACE_MS, next?.matchedAt ?? Infinity);
      const list = holds.get(m.offer.providerId) ?? [];
      list.push({ from: m.matchedAt, to, cores: m.reserved.cpuCores });
      holds.set(m.offer.providerId, list);
    }
  }
  const peaks: Array<{ providerId: string; peakCores: number }> = [];
  for (const [providerId, list] of holds) {
    const peak = Math.max(...list.map((h) => list.filter((o) => o.from <= h.from && o.to > h.from).reduce((sum, o) => sum + o.cores, 0)));
    if (peak > cores) peaks.push({ providerId: providerId.slice(0, 10), peakCores: peak });
  }
  return peaks;
}

/** Which node to kill for each fault: the JetStream meta leader, the bids stream's leader, or a node that leads neither. */
export async function pickNode(market: ClusterMarket, role: "meta-leader" | "bids-stream-leader" | "non-leader"): Promise<number> {
  const { cluster } = market;
  const meta = await cluster.waitForMetaLeader(60_000);
  if (role === "meta-leader") return cluster.indexOf(meta);
  const bids = (await cluster.streamState("NTX_BIDS"))?.leader;
  if (!bids) throw new Error("the bids stream has no leader");
  if (role === "bids-stream-leader") return cluster.indexOf(bids);
  const other = cluster.nodes.findIndex((n) => n.name !== meta && n.name !== bids);
  // Three nodes, two leader roles: when one node holds both, either of the other two leads neither.
  return other;
}

/** One fault under load: kill the chosen node `killAtMs` into the run, bring it back after the run, wait for 3 current replicas again. */
export async function faultUnderLoad(market: ClusterMarket, role: "meta-leader" | "bids-stream-leader" | "non-leader", params: { bids: number; ratePerSec: number; killAtMs: number; allMatchesTimeoutMs: number }): Promise<FaultOutcome> {
  const bids = signedBids(params.bids);
  const victim = await pickNode(market, role);
  const kill = { at: 0, node: market.cluster.nodes[victim]!.name, role };
  const load = await runLoad(market, bids, params.ratePerSec, [
    {
      atMs: params.killAtMs,
      run: async () => {
        kill.at = Date.now();
        await market.cluster.kill(victim);
      },
    },
  ]);
  const outcome = await judge(market, load, new Set(bids.map((b) => b.jobHash)), kill, params.allMatchesTimeoutMs);
  await market.cluster.restart(victim);
  await market.cluster.waitForMetaLeader(60_000);
  await market.cluster.waitForStreamsCurrent(MARKET_STREAMS, 3, 120_000);
  return outcome;
}
