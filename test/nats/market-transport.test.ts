import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { isNtxError } from "../../offchain/errors.js";
import { matchSubject } from "../../src/nats/subjects.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { InboundMessage } from "../../src/market/transport.js";
import { StreamNames } from "../../src/nats/setup.js";
import { startMarket, waitFor, type Market } from "../market/harness.js";

let market: Market;

beforeAll(async () => {
  market = await startMarket();
});
afterAll(async () => {
  await market?.close();
});

const te = new TextEncoder();
const td = new TextDecoder();

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return isNtxError(error) ? error.code : `not an NtxError: ${String(error)}`;
  }
}

describe("market transport KV writes (direct JetStream publishes)", () => {
  it("create claims a key once, update is a compare-and-set on the latest revision", async () => {
    const { transport } = await market.transport();
    const r1 = await transport.jobs.create("job-a", te.encode("1"));
    expect(await code(transport.jobs.create("job-a", te.encode("2")))).toBe("KV_EXISTS");
    const r2 = await transport.jobs.update("job-a", te.encode("3"), r1);
    expect(r2).toBeGreaterThan(r1);
    // The old revision lost: a stale writer never overwrites.
    expect(await code(transport.jobs.update("job-a", te.encode("4"), r1))).toBe("KV_CONFLICT");
    const got = await transport.jobs.get("job-a");
    expect(got && td.decode(got.value)).toBe("3");
    expect(got?.revision).toBe(r2);
  });

  it("many concurrent creates of one key: exactly one wins", async () => {
    const { transport } = await market.transport();
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => transport.capacity.create("prov-x", te.encode(String(i)))));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(isNtxError(r.reason, "KV_EXISTS")).toBe(true);
  });

  it("many concurrent updates on one revision: exactly one wins", async () => {
    const { transport } = await market.transport();
    const rev = await transport.capacity.create("prov-y", te.encode("base"));
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => transport.capacity.update("prov-y", te.encode(String(i)), rev)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(isNtxError(r.reason, "KV_CONFLICT")).toBe(true);
  });

  it("create over a deleted key succeeds (falls back to kv.create)", async () => {
    const { transport, nc } = await market.transport();
    await transport.jobs.create("job-del", te.encode("x"));
    const kv = await new Kvm(nc).open("ntx-jobs");
    await kv.delete("job-del");
    expect(await transport.jobs.get("job-del")).toBeNull();
    const rev = await transport.jobs.create("job-del", te.encode("y"));
    const got = await transport.jobs.get("job-del");
    expect(got?.revision).toBe(rev);
    expect(await code(transport.jobs.create("job-del", te.encode("z")))).toBe("KV_EXISTS");
  });

  it("a match published twice under one msg id is stored once", async () => {
    const { transport } = await market.transport();
    const hash = "ab".repeat(32);
    const seq = await transport.publishMatch(hash, te.encode('{"n":1}'), { matchId: `${hash}-1`, bidSeq: 7, expectedLastSeq: 0 });
    expect(await transport.publishMatch(hash, te.encode('{"n":1}'), { matchId: `${hash}-1`, bidSeq: 7, expectedLastSeq: 0 })).toBe(seq);
    const history = await market.client.history("matches", matchSubject(hash));
    expect(history).toHaveLength(1);
    // Another instance's match of the same job and attempt (its own document): not stored, and not taken for ours.
    expect(await code(transport.publishMatch(hash, te.encode('{"n":1,"matcherId":"other"}'), { matchId: `${hash}-1`, bidSeq: 7, expectedLastSeq: 0 }))).toBe("MATCH_EXISTS");
    expect(await market.client.history("matches", matchSubject(hash))).toHaveLength(1);
  });

  it("a job's match is stored only over the match it expects: the first over none, a re-match over the last", async () => {
    const { transport } = await market.transport();
    const hash = "cd".repeat(32);
    expect(await transport.lastMatch(hash)).toBeNull();
    const first = await transport.publishMatch(hash, te.encode('{"n":1}'), { matchId: `${hash}-1`, bidSeq: 11, expectedLastSeq: 0 });
    // Another delivery (or a replay) of the same job: refused, nothing stored.
    expect(await code(transport.publishMatch(hash, te.encode('{"n":"x"}'), { matchId: `${hash}-1x`, bidSeq: 12, expectedLastSeq: 0 }))).toBe("MATCH_EXISTS");
    // A confirmation under the job does not count as a match.
    await market.client.publishConfirm(hash, {});
    const second = await transport.publishMatch(hash, te.encode('{"n":2}'), { matchId: `${hash}-2`, bidSeq: 11, expectedLastSeq: first });
    expect(await code(transport.publishMatch(hash, te.encode('{"n":3}'), { matchId: `${hash}-3`, bidSeq: 11, expectedLastSeq: first }))).toBe("MATCH_EXISTS");
    const last = await transport.lastMatch(hash);
    expect(last && { seq: last.seq, bidSeq: last.bidSeq, data: td.decode(last.data) }).toEqual({ seq: second, bidSeq: 11, data: '{"n":2}' });
  });
});

describe("bid deliveries (the matcher's consume/ack path)", () => {
  it("ack and term settle a bid at the server, a nak brings it back with its sequence, working does not settle it", async () => {
    const { transport } = await market.transport();
    const got: InboundMessage[] = [];
    const watch = await transport.consumeBids({ durable: "delivery-test", ackWaitMs: 60_000, maxAckPending: 100 }, (m) => got.push(m));
    const bodies = ["acked", "terminated", "nak-delayed", "nak"].map((b) => te.encode(b));
    for (const [i, body] of bodies.entries()) await market.nc.publish(`ntx.bids.${"d".repeat(63)}${i}`, body);
    await waitFor("4 deliveries", () => got.length >= 4);
    const [acked, terminated, delayed, naked] = got as [InboundMessage, InboundMessage, InboundMessage, InboundMessage];
    expect(got.map((m) => td.decode(m.data))).toEqual(["acked", "terminated", "nak-delayed", "nak"]);
    expect(got.map((m) => m.deliveryCount)).toEqual([1, 1, 1, 1]);
    expect(new Set(got.map((m) => m.seq)).size).toBe(4);
    acked.ack();
    acked.nak(); // after a final reply nothing more is sent (or it would be redelivered)
    terminated.term();
    delayed.working();
    delayed.nak(200);
    naked.nak();
    await waitFor("2 redeliveries", () => got.length >= 6);
    const again = got.slice(4);
    expect(again.map((m) => m.seq).sort()).toEqual([delayed.seq, naked.seq].sort());
    expect(again.map((m) => m.deliveryCount)).toEqual([2, 2]);
    for (const m of again) m.ack();
    const jsm = await jetstreamManager(market.nc);
    const info = await waitFor("every delivery settled", async () => {
      const ci = await jsm.consumers.info(StreamNames.bids, "delivery-test");
      return ci.num_ack_pending === 0 && ci.num_pending === 0 ? ci : undefined;
    });
    expect(info.delivered.stream_seq).toBe(Math.max(...got.map((m) => m.seq)));
    // Nothing else came back: the acked and terminated bids stay settled.
    await new Promise((r) => setTimeout(r, 500));
    expect(got.length).toBe(6);
    await watch.stop();
  });
});
