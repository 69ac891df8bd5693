/**
 * The market's JetStream setup on a real 3-node cluster: 3 replicas everywhere, idempotent, and a market first
 * set up at 1 replica (a single node grown into a cluster, or NTX_NATS_REPLICAS=1) raised to 3 by the next
 * start-up. Server URLs as an operator writes them: one comma-separated string.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, ensureMarketInfrastructure, marketReplicas, type NatsConnection } from "../../src/nats/index.js";
import { splitServers } from "../../src/nats/connection.js";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

let cluster: NatsCluster;
let single: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  [cluster, single] = await Promise.all([startNatsCluster({ nodes: 3 }), startNatsServer()]);
  nc = await connectNats({ servers: cluster.url, name: "cluster-setup-test", timeoutMs: 10_000 });
}, 120_000);
afterAll(async () => {
  await nc?.close();
  await Promise.all([cluster?.stop(), single?.stop()]);
});

/**
 * num_replicas of every stream, read with a raw client. A cluster moving streams to new peers may answer the
 * list with fewer streams for a moment: read until all 10 are there (bounded).
 */
async function replicasOf(servers: string[]): Promise<Record<string, number>> {
  const raw = await connect({ servers });
  const jsm = await jetstreamManager(raw);
  const deadline = Date.now() + 30_000;
  let out: Record<string, number> = {};
  do {
    out = {};
    for await (const info of jsm.streams.list()) out[info.config.name] = info.config.num_replicas;
    if (Object.keys(out).length < 10) await new Promise((r) => setTimeout(r, 250));
  } while (Object.keys(out).length < 10 && Date.now() < deadline);
  await raw.close();
  return out;
}

describe("market setup on a NATS cluster", () => {
  it("reads one comma-separated string as several servers", () => {
    expect(splitServers("nats://a:1, nats://b:2,,nats://c:3")).toEqual(["nats://a:1", "nats://b:2", "nats://c:3"]);
    expect(splitServers(["nats://a:1,nats://b:2", "nats://c:3"])).toEqual(["nats://a:1", "nats://b:2", "nats://c:3"]);
  });

  it("chooses 3 replicas on a 3-node cluster, 1 on a single server, and what NTX_NATS_REPLICAS says", async () => {
    expect(marketReplicas(nc, undefined)).toBe(3);
    const lone = await connectNats({ servers: single.url });
    expect(marketReplicas(lone, undefined)).toBe(1);
    expect(marketReplicas(lone, "3")).toBe(3);
    expect(() => marketReplicas(lone, "0")).toThrow(/replicas/);
    expect(() => marketReplicas(lone, "two")).toThrow(/replicas/);
    await lone.close();
  });

  it("a market set up at 1 replica is raised to 3, every stream, bucket and store, and a second run changes nothing", async () => {
    await ensureMarketInfrastructure(nc, { replicas: 1 });
    const before = await replicasOf(cluster.urls);
    expect(Object.keys(before)).toHaveLength(10);
    expect(Object.values(before).every((r) => r === 1)).toBe(true);

    await ensureMarketInfrastructure(nc);
    const after = await replicasOf(cluster.urls);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(Object.values(after).every((r) => r === 3)).toBe(true);
    await cluster.waitForStreamsCurrent(Object.keys(after), 3, 60_000);

    await ensureMarketInfrastructure(nc);
    expect(await replicasOf(cluster.urls)).toEqual(after);

    // Capacity and job records are read from the leader (a replica may lag a write the leader acknowledged).
    const raw = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(raw);
    for (const bucket of ["KV_ntx-capacity", "KV_ntx-jobs"]) expect((await jsm.streams.info(bucket)).config.allow_direct, bucket).toBe(false);
    await raw.close();
  });
});
