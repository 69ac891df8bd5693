import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, createMarketClient, ensureMarketInfrastructure, marketStreamConfigs, offerSubject, openResultStore, type NatsConnection } from "../../src/nats/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("market streams, buckets and object store", () => {
  it("are created idempotently, and the offers stream keeps only the latest offer per provider", async () => {
    await ensureMarketInfrastructure(nc);
    // A second component starting up must not fail or change anything.
    const again = await ensureMarketInfrastructure(nc);
    expect(await again.capacity.get("nobody")).toBeNull();
    const client = createMarketClient(nc);
    const provider = `03${"aa".repeat(32)}`;
    for (const n of [1, 2, 3]) await client.publishRaw(offerSubject("eu", provider), new TextEncoder().encode(`{"n":${n}}`));
    const offers = await client.readStream("offers");
    expect(offers.map((m) => new TextDecoder().decode(m.data))).toEqual(['{"n":3}']);
    expect(marketStreamConfigs().map((c) => c.name)).toEqual(["NTX_OFFERS", "NTX_BIDS", "NTX_MATCHES", "NTX_JOB_EVENTS", "NTX_JOB_LOGS", "NTX_PARKED"]);
  });

  it("bound every stream, bucket and the object store as the server reports them: age, messages, bytes, message size, per subject", async () => {
    await ensureMarketInfrastructure(nc);
    await openResultStore(nc);
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const info of jsm.streams.list()) {
      const c = info.config;
      names.push(c.name);
      expect(c.max_bytes, c.name).toBeGreaterThan(0);
      expect(c.max_age, c.name).toBeGreaterThan(0);
      // KV and object-store streams bound values through max_msg_size / per-subject history; the object store's chunks are fixed-size.
      if (!c.name.startsWith("OBJ_")) expect(c.max_msg_size, c.name).toBeGreaterThan(0);
      if (!c.name.startsWith("OBJ_")) expect(c.max_msgs_per_subject, c.name).toBeGreaterThan(0);
      if (c.name.startsWith("NTX_")) expect(c.max_msgs, c.name).toBeGreaterThan(0);
    }
    expect(names.sort()).toEqual(["KV_ntx-capacity", "KV_ntx-jobs", "KV_ntx-offer-book", "NTX_BIDS", "NTX_JOB_EVENTS", "NTX_JOB_LOGS", "NTX_MATCHES", "NTX_OFFERS", "NTX_PARKED", "OBJ_ntx-results"]);
  });

  it("de-duplicates a bid published twice under its jobHash", async () => {
    const client = createMarketClient(nc);
    const h = "12".repeat(32);
    const first = await client.publishBid(h, { any: "bid" });
    const second = await client.publishBid(h, { any: "bid" });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
  });

  it("reads one job's stored history by subject", async () => {
    const client = createMarketClient(nc);
    const h = "34".repeat(32);
    await client.publishBid(h, { bid: 1 });
    await client.publishRaw(`ntx.matches.${h}`, new TextEncoder().encode('{"attempt":1}'));
    await client.publishRaw(`ntx.matches.${h}`, new TextEncoder().encode('{"attempt":2}'));
    await client.publishRaw(`ntx.matches.${h}.confirm`, new TextEncoder().encode("{}"));
    await client.publishJobLog(h, "line 1");
    await client.publishJobLog(h, "line 2");
    // Another job's messages in between must not show up.
    await client.publishJobLog("56".repeat(32), "other");
    const history = await client.jobHistory(h);
    const text = (m: { data: Uint8Array }) => new TextDecoder().decode(m.data);
    expect(history.bid && text(history.bid)).toBe('{"bid":1}');
    expect(history.matches.map(text)).toEqual(['{"attempt":1}', '{"attempt":2}']);
    expect(history.confirms.length).toBe(1);
    expect(history.events).toEqual([]);
    expect(history.logs.map(text)).toEqual(["line 1", "line 2"]);
    expect(text((await client.lastOf("matches", `ntx.matches.${h}`))!)).toBe('{"attempt":2}');
    expect(await client.lastOf("matches", `ntx.matches.${"78".repeat(32)}`)).toBeNull();
    expect(history.logs[0]!.time).toBeGreaterThan(Date.now() - 60_000);
  });

  it("stores and returns job results in the object store", async () => {
    const store = await openResultStore(nc);
    const payload = new Uint8Array(300_000).map((_, i) => i % 251);
    await store.putBlob({ name: "job-1/out.tar" }, payload);
    const back = await store.getBlob("job-1/out.tar");
    expect(back).toEqual(payload);
    const info = await store.info("job-1/out.tar");
    expect(info?.size).toBe(payload.length);
  });
});
