/**
 * `npm run bench:market -- --phases=cluster`: sustained signed bids matched per second by 2 matcher instances on a
 * 3-node NATS cluster (every stream and bucket at 3 replicas), beside 1 matcher on 1 nats-server, same run, same
 * backlog size, same offers. Each matcher verifies on `workers` threads; the two cluster matchers share the cores
 * with the three servers, so the ratio says what replication and a second instance cost or give on this machine.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { signOffer, providerIdOf } from "../../src/market/eip712.js";
import { createMatcher, type Matcher } from "../../src/market/matcher.js";
import type { BidInput, UnsignedOffer } from "../../src/market/schemas.js";
import { connectNats, createMarketClient, createNatsMarketTransport, ensureMarketInfrastructure, marketReplicas, type NatsConnection } from "../../src/nats/index.js";
import { startNatsCluster } from "../../test/helpers/nats-cluster.js";
import { startNatsServer } from "../../test/helpers/nats.js";

export interface ClusterBenchParams {
  bids: number;
  workers: number;
  makeBid: (i: number) => { bid: BidInput; jobHash: string };
  offerFields: (providerId: string, i: number, cores: number) => UnsignedOffer;
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

async function publishOffers(nc: NatsConnection, count: number, offerFields: ClusterBenchParams["offerFields"]): Promise<void> {
  const client = createMarketClient(nc);
  const keys = Array.from({ length: count }, () => `0x${randomBytes(32).toString("hex")}`);
  for (let i = 0; i < count; i += 200) await Promise.all(keys.slice(i, i + 200).map((k, j) => client.publishOffer(signOffer(k, offerFields(providerIdOf(k), i + j, 64)))));
}

/** Drains a backlog of `bids` with `instances` matchers on `servers`; sustained matched/s between the 10 % and 90 % marks. */
async function drain(servers: string, instances: number, params: ClusterBenchParams) {
  const nc = await connectNats({ servers, name: "bench-cluster-client", timeoutMs: 10_000 });
  await ensureMarketInfrastructure(nc);
  const replicas = marketReplicas(nc);
  await publishOffers(nc, 1_000, params.offerFields);
  const client = createMarketClient(nc);
  const bids = Array.from({ length: params.bids }, (_, i) => params.makeBid(i));
  for (let i = 0; i < bids.length; i += 1_000) await Promise.all(bids.slice(i, i + 1_000).map((b) => client.publishBid(b.jobHash, b.bid)));
  const stamps: number[] = [];
  const matchers: Array<{ matcher: Matcher; stop: () => Promise<void> }> = [];
  for (let i = 0; i < instances; i++) {
    const mnc = await connectNats({ servers, name: `bench-cluster-matcher-${i}`, timeoutMs: 10_000 });
    const transport = await createNatsMarketTransport(mnc);
    const matcher = createMatcher({ transport, matcherId: `bench-${i}`, durable: "bench", verifyWorkers: params.workers, confirmWindowMs: 600_000, maxAckPending: 1_000_000, onMatch: () => void stamps.push(performance.now()) });
    matchers.push({ matcher, stop: async () => { await matcher.stop(); await transport.close(); await mnc.close(); } });
  }
  const started = performance.now();
  await Promise.all(matchers.map((m) => m.matcher.start()));
  const deadline = Date.now() + 600_000;
  while (stamps.length < bids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const total = (performance.now() - started) / 1000;
  for (const m of matchers) await m.stop();
  await nc.close();
  const lo = Math.floor(bids.length * 0.1);
  const hi = Math.floor(bids.length * 0.9) - 1;
  const sustained = stamps.length > hi ? (hi - lo) / ((stamps[hi]! - stamps[lo]!) / 1000) : NaN;
  return { matchers: instances, replicas, bids: bids.length, matched: stamps.length, sustainedMatchedPerSec: round(sustained), overallMatchedPerSec: round(stamps.length / total) };
}

export async function clusterPhase(params: ClusterBenchParams) {
  const single = await startNatsServer();
  let oneNode;
  try {
    oneNode = await drain(single.url, 1, params);
  } finally {
    await single.stop();
  }
  const cluster = await startNatsCluster({ nodes: 3 });
  let threeNodes;
  try {
    threeNodes = await drain(cluster.url, 2, params);
  } finally {
    await cluster.stop();
  }
  return {
    note: "same backlog and 1k-offer book; 1 matcher on 1 nats-server vs 2 matchers (one consumer group) on a 3-node cluster, all on this machine's cores",
    verifyThreadsPerMatcher: params.workers,
    cores: availableParallelism(),
    oneMatcherOneNode: oneNode,
    twoMatchersThreeNodes: threeNodes,
    ratioClusterToSingle: round(threeNodes.sustainedMatchedPerSec / oneNode.sustainedMatchedPerSec, 3),
  };
}
