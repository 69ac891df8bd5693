/**
 * Attack: 10,000 junk messages on the bids subjects from a raw client (not JSON, not an object, unsigned, badly
 * signed, wrong subject), then one valid bid. Every junk message is counted and terminated; the valid bid
 * still matches; nothing is left pending on the bids consumer.
 */
import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { jobHash } from "../../src/market/job-hash.js";
import { bidSubject } from "../../src/nats/subjects.js";
import { arena, counter, rejections } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { waitFor } from "./harness.js";

const ctx = arena();

describe("10,000 junk messages on the bids subjects", () => {
  it("are each counted and terminated, and a valid bid sent right after still matches", async () => {
    const provider = newProvider();
    await ctx.market.client.publishOffer(makeOffer(provider, { region: "junk" }));
    const matcher = await ctx.matcher({ durable: "junk" });
    const buyer = newBuyer();
    const signed = makeBid(buyer, { regions: ["junk"] });
    const { signature: _s, ...unsigned } = signed;
    const kinds = [
      () => randomBytes(1 + (randomBytes(1)[0]! % 200)),
      () => "[1,2,3]",
      () => JSON.stringify(unsigned),
      () => JSON.stringify({ ...signed, maxPrice: "2" }),
      () => JSON.stringify({ ...signed, nonce: "abc", maxPrice: "-1", deadline: "soon" }),
    ];
    const total = 10_000;
    const junk: Array<[string, Uint8Array | string]> = Array.from({ length: total }, (_, i) => [bidSubject(randomBytes(32).toString("hex")), kinds[i % kinds.length]!()]);
    await ctx.evil.flood(junk);
    const good = makeBid(buyer, { regions: ["junk"] });
    await ctx.evil.publish(bidSubject(jobHash(good.spec)), json(good));
    await waitFor("the valid bid matched", async () => (await counter(matcher.metrics.matched)) === 1, 60_000);
    await waitFor("every junk message counted", async () => Object.values(await rejections(matcher)).reduce((a, b) => a + b, 0) === total, 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await rejections(matcher))}`);
    });
    const counts = await rejections(matcher);
    expect(counts["bid/bad_signature"]).toBe(total / 5);
    expect(counts["bid/unsigned"]).toBe(total / 5);
    expect(counts["bid/malformed"]).toBe((3 * total) / 5);
    const ci = await (await jetstreamManager(ctx.market.nc)).consumers.info("NTX_BIDS", "junk");
    expect(ci.num_pending).toBe(0);
    expect(ci.num_redelivered).toBe(0);
  });
});
