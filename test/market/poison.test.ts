/**
 * Attack: a signed bid whose maxPrice BigInt() cannot read ("1e308", "abc") once made the schema throw, killed
 * the verifier thread and was redelivered for ever while every later bid waited; the same text as an offer
 * price made a restarted matcher load no offers. Published here from a raw NATS client.
 */
import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { jobHash } from "../../src/market/job-hash.js";
import { signBid } from "../../src/market/bid-signing.js";
import { bidSubject, offerSubject } from "../../src/nats/subjects.js";
import { arena, counter, rejections } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, unsignedBid } from "./fixtures.js";
import { waitFor } from "./harness.js";

const ctx = arena();

describe("poison bids and offers", () => {
  it("counts and terminates signed bids with unreadable amounts, and a valid bid sent right after still matches", async () => {
    const provider = newProvider();
    await ctx.market.client.publishOffer(makeOffer(provider, { region: "poison" }));
    const matcher = await ctx.matcher({ durable: "poison" });
    const buyer = newBuyer();
    for (const maxPrice of ["1e308", "abc"]) {
      // Signed over exactly these bytes: only the amount is wrong.
      const poison = signBid(buyer.seed, unsignedBid(buyer, { maxPrice, regions: ["poison"] }));
      expect(await ctx.evil.publish(bidSubject(jobHash(poison.spec)), JSON.stringify(poison))).toMatch(/"seq":/);
    }
    const good = makeBid(buyer, { regions: ["poison"] });
    await ctx.evil.publish(bidSubject(jobHash(good.spec)), json(good));
    await waitFor("the valid bid matched", async () => (await counter(matcher.metrics.matched)) === 1, 20_000);
    await waitFor("both poison bids counted", async () => (await rejections(matcher))["bid/malformed"] === 2);
    // Terminated, not left to redeliver: nothing is pending or waiting for redelivery on the bids consumer.
    const jsm = await jetstreamManager(ctx.market.nc);
    await waitFor("the consumer settled", async () => {
      const ci = await jsm.consumers.info("NTX_BIDS", "poison");
      return ci.num_pending === 0 && ci.num_redelivered === 0 && ci.num_ack_pending <= 1;
    });
  });

  it("a poison offer is counted and dropped, and a restarted matcher still loads every valid offer", async () => {
    // The first test's matcher stops: the matcher here is the restarted one.
    await ctx.stopMatchers();
    const good = newProvider();
    const poisoned = newProvider();
    await ctx.market.client.publishOffer(makeOffer(good, { region: "poison2" }));
    const valid = makeOffer(poisoned, { region: "poison2" });
    await ctx.evil.publish(offerSubject("poison2", poisoned.id), JSON.stringify({ ...valid, prices: { ...valid.prices, cpuCoreHour: "1e308" } }));
    const matcher = await ctx.matcher({ durable: "poison2" });
    expect(matcher.book.get(good.id)).toBeDefined();
    expect((await rejections(matcher))["offer/malformed"]).toBeGreaterThanOrEqual(1);
    const bid = makeBid(newBuyer(), { regions: ["poison2"] });
    await ctx.evil.publish(bidSubject(jobHash(bid.spec)), json(bid));
    await waitFor("a bid matched against the loaded book", async () => (await counter(matcher.metrics.matched)) === 1, 20_000);
  });
});
