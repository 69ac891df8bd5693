import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBid } from "../../src/market/decode.js";
import { createMatcher, type Matcher } from "../../src/market/matcher.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { decodeJson, startMarket, waitFor, type Market } from "./harness.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";

let market: Market;
const matchers: Matcher[] = [];

beforeAll(async () => {
  market = await startMarket();
});
afterAll(async () => {
  for (const m of matchers) await m.stop();
  await market?.close();
});

describe("two matcher instances in one consumer group", () => {
  it("sell 500 offers' capacity to 5,000 bids with nothing sold twice", async () => {
    const OFFERS = 500;
    const BIDS = 5_000;
    const CORES = 8;
    const providers = Array.from({ length: OFFERS }, () => newProvider());
    const offers = providers.map((p, i) =>
      makeOffer(p, {
        region: ["eu", "us"][i % 2]!,
        resources: { cpuCores: CORES, memoryMiB: 16_384, diskGiB: 100, gpus: i % 5 === 0 ? [{ model: "a100", vramMiB: 40_960 }, { model: "a100", vramMiB: 81_920 }] : [] },
        // Few distinct prices: many ties, so both instances go for the same providers.
        prices: { cpuCoreHour: String(1000 + (i % 4) * 10), memoryGiBHour: "10", diskGiBHour: "1", gpuHour: "5000" },
      }),
    );
    await Promise.all(offers.map((o) => market.client.publishOffer(o)));
    for (let i = 0; i < 2; i++) {
      const { transport } = await market.transport();
      const m = createMatcher({ transport, matcherId: `m${i}`, durable: "group", verifyWorkers: 1, confirmWindowMs: 120_000, noFitRetryMs: 300 });
      matchers.push(m);
      await m.start();
      expect(m.book.size).toBe(OFFERS);
    }
    const matches: MatchInput[] = [];
    const stop = market.client.onMatch((_s, d) => matches.push(decodeJson<MatchInput>(d)));

    const buyers = Array.from({ length: 20 }, () => newBuyer());
    const bids = Array.from({ length: BIDS }, (_, i) =>
      makeBid(buyers[i % buyers.length]!, {}, { resources: { cpuCores: 1, memoryMiB: 1024, diskGiB: 1, ...(i % 10 === 0 ? { gpu: { count: 1, model: "a100" } } : {}) } }),
    );
    for (let i = 0; i < bids.length; i += 500) {
      await Promise.all(
        bids.slice(i, i + 500).map((b) => {
          const d = decodeBid(json(b), { now: Date.now() });
          if (!d.ok) throw new Error("fixture");
          return market.client.publishBid(d.value.jobHash, b);
        }),
      );
    }

    // Every core is sold once: 500 × 8 = 4,000 bids matched, the other 1,000 find nothing left.
    await waitFor("all capacity sold", () => matches.length >= OFFERS * CORES, 120_000);
    await new Promise((r) => setTimeout(r, 1_000));
    stop();
    expect(matches.length).toBe(OFFERS * CORES);

    const perJob = new Map<string, number>();
    for (const m of matches) perJob.set(m.jobHash, (perJob.get(m.jobHash) ?? 0) + 1);
    expect([...perJob.values()].every((n) => n === 1)).toBe(true);

    const cpu = new Map<string, number>();
    const mem = new Map<string, number>();
    const gpus = new Map<string, number[]>();
    for (const m of matches) {
      const id = m.offer.providerId;
      cpu.set(id, (cpu.get(id) ?? 0) + m.reserved.cpuCores);
      mem.set(id, (mem.get(id) ?? 0) + m.reserved.memoryMiB);
      gpus.set(id, [...(gpus.get(id) ?? []), ...m.reserved.gpuIndices]);
    }
    const doubleSold = [...cpu.entries()].filter(([, c]) => c > CORES).length + [...mem.values()].filter((x) => x > 16_384).length + [...gpus.values()].filter((g) => new Set(g).size !== g.length).length;
    expect(doubleSold).toBe(0);
    expect(cpu.size).toBe(OFFERS);
    // Each matched GPU bid holds exactly one GPU. How many of the 200 GPUs sell depends on the order bids are
    // taken in: a CPU-only bid may take the last cores of a GPU machine when that is the cheapest offer.
    const gpuBids = new Set(bids.filter((b) => b.spec.resources.gpu).map((b) => (decodeBid(json(b), { now: Date.now() }) as { ok: true; value: { jobHash: string } }).value.jobHash));
    const gpuMatches = matches.filter((m) => gpuBids.has(m.jobHash));
    expect(gpuMatches.every((m) => m.reserved.gpuIndices.length === 1 && m.offer.resources.gpus.length > 0)).toBe(true);
    expect(matches.filter((m) => !gpuBids.has(m.jobHash)).every((m) => m.reserved.gpuIndices.length === 0)).toBe(true);
    expect([...gpus.values()].flat().length).toBe(gpuMatches.length);
    expect(gpuMatches.length).toBeGreaterThan(0);
    expect(gpuMatches.length).toBeLessThanOrEqual((OFFERS / 5) * 2);
    // Both instances took part, and they did collide (and resolved it) on the same providers.
    const byMatcher = new Map<string, number>();
    for (const m of matches) byMatcher.set(m.matcherId, (byMatcher.get(m.matcherId) ?? 0) + 1);
    const counter = async (m: Matcher, name: "matched" | "noFit" | "casConflicts") => (await m.metrics[name].get()).values[0]?.value ?? 0;
    const perInstance = await Promise.all(matchers.map(async (m) => ({ matched: await counter(m, "matched"), noFit: await counter(m, "noFit"), casConflicts: await counter(m, "casConflicts") })));
    console.log(JSON.stringify({ perInstance }));
    expect(byMatcher.get("m0")).toBeGreaterThan(0);
    expect(byMatcher.get("m1")).toBeGreaterThan(0);
    const conflicts = perInstance.reduce((sum, m) => sum + m.casConflicts, 0);
    console.log(JSON.stringify({ matched: matches.length, gpusSold: gpuMatches.length, byMatcher: Object.fromEntries(byMatcher), casConflicts: conflicts }));
  });
});
