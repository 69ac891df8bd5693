/**
 * Attack: cheap signed bids that fit no offer. NAK'd every 2 s with unbounded redelivery they once held
 * ack-pending slots until no new bid was delivered at all. Here they are parked: a valid bid behind them
 * matches, though the consumer's max_ack_pending is far below their number; and when an offer that fits them
 * arrives, parked bids are matched. Quick tier 2,000 bids; NTX_HEAVY=1 runs the 50,000 of the issue.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { jobHash } from "../../src/market/job-hash.js";
import { bidSubject } from "../../src/nats/subjects.js";
import { arena, confirmEveryMatch, counter } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { waitFor } from "./harness.js";

const PARKED = process.env.NTX_HEAVY === "1" ? 50_000 : 2_000;
const ctx = arena();

describe(`${PARKED.toLocaleString("en")} no-fit bids`, () => {
  it("are parked without holding consumer slots; a valid bid behind them matches; they match once an offer fits", { timeout: PARKED > 10_000 ? 900_000 : 120_000 }, async () => {
    const small = newProvider();
    await ctx.market.client.publishOffer(makeOffer(small, { region: "park", resources: { cpuCores: 2, memoryMiB: 4096, diskGiB: 10, gpus: [] } }));
    // A consumer that lets at most 100 bids be unacknowledged: NAK-looped no-fit bids would fill it at once.
    const matcher = await ctx.matcher({ durable: "park", maxAckPending: 100 });
    const buyer = newBuyer();
    const noFit: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < PARKED; i++) {
      const bid = makeBid(buyer, { regions: ["park"] }, { resources: { cpuCores: 64, memoryMiB: 1024, diskGiB: 1 } });
      noFit.push([bidSubject(jobHash(bid.spec)), json(bid)]);
    }
    for (let i = 0; i < noFit.length; i += 5_000) await ctx.evil.flood(noFit.slice(i, i + 5_000));
    await waitFor("every no-fit bid parked", () => matcher.stats().parked === PARKED, 300_000);
    const jsm = await jetstreamManager(ctx.market.nc);
    const ci = await jsm.consumers.info("NTX_BIDS", "park");
    expect(ci.num_ack_pending).toBe(0);
    expect(ci.num_pending).toBe(0);

    const stopConfirming = confirmEveryMatch(ctx.market, [small]);
    const good = makeBid(buyer, { regions: ["park"] });
    await ctx.evil.publish(bidSubject(jobHash(good.spec)), json(good));
    await waitFor("the valid bid matched behind the parked ones", async () => (await counter(matcher.metrics.matched)) === 1, 60_000);

    // An offer big enough for 4 of them: parked bids are tried again because the book changed.
    const big = newProvider();
    const stopBig = confirmEveryMatch(ctx.market, [big]);
    await ctx.market.client.publishOffer(makeOffer(big, { region: "park", resources: { cpuCores: 256, memoryMiB: 65536, diskGiB: 100, gpus: [] } }));
    await waitFor("4 parked bids matched and confirmed", async () => (await counter(matcher.metrics.confirmed)) === 5, 120_000);
    await waitFor("and taken out of the parked set", () => matcher.stats().parked === PARKED - 4, 30_000);
    stopConfirming();
    stopBig();
  });
});
