/**
 * Attack: the offers stream keeps one message per subject, so an offer signed by provider B (or any junk)
 * published on provider A's subject became the last stored message for A, and a restarted matcher lost A's
 * offer. Here, from a raw client, both are published after A's real offer; a restarted matcher (and a second,
 * fresh one) still holds A's offer and matches A.
 */
import { describe, expect, it } from "vitest";
import { jobHash } from "../../src/market/job-hash.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { bidSubject, offerSubject } from "../../src/nats/subjects.js";
import { arena, rejections } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { decodeJson, waitFor } from "./harness.js";

const ctx = arena();

describe("a forged offer on another provider's subject", () => {
  it("never replaces the real offer, live or across a matcher restart", async () => {
    const a = newProvider();
    const b = newProvider();
    const real = makeOffer(a, { region: "forge", prices: { cpuCoreHour: "5", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" } });
    const first = await ctx.matcher({ durable: "forge-1" });
    await ctx.evil.publish(offerSubject("forge", a.id), json(real));
    await waitFor("A's offer in the live book", () => first.book.get(a.id)?.offer.nonce === real.nonce);
    // B signs an offer of its own (cheaper, so it would win) and publishes it on A's subject, then junk there.
    const forged = makeOffer(b, { region: "forge", prices: { cpuCoreHour: "1", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" } });
    await ctx.evil.publish(offerSubject("forge", a.id), json(forged));
    await ctx.evil.publish(offerSubject("forge", a.id), json({ ...real, nonce: String(BigInt(real.nonce) + 1n) }));
    await waitFor("both counted", async () => (await rejections(first))["offer/malformed"] === 1 && (await rejections(first))["offer/bad_signature"] === 1);
    expect(first.book.get(a.id)?.offer.nonce).toBe(real.nonce);
    expect(first.book.get(b.id)).toBeUndefined();
    await ctx.stopMatchers();

    // The raw stream's last message for A is the forgery now; a restarted matcher reads the verified book.
    const restarted = await ctx.matcher({ durable: "forge-2" });
    expect(restarted.book.get(a.id)?.offer.nonce).toBe(real.nonce);
    expect(restarted.book.get(b.id)).toBeUndefined();
    const matches: MatchInput[] = [];
    const stop = ctx.market.client.onMatch((_s, d) => matches.push(decodeJson<MatchInput>(d)));
    const bid = makeBid(newBuyer(), { regions: ["forge"] });
    await ctx.evil.publish(bidSubject(jobHash(bid.spec)), json(bid));
    const m = await waitFor("the bid matched", () => matches[0]);
    stop();
    expect(m.offer.providerId).toBe(a.id);
    expect(m.offer.signature).toBe(real.signature);
  });

  it("cannot write the verified book itself, even as an unauthenticated client on an open server", async () => {
    // The server here has no users; the shipped permissions (test/nats/role-jetstream.test.ts) refuse $KV writes
    // to every role but the matcher. What a write could still do on an open server is what the matcher re-checks:
    // a book entry is verified again on load, so junk in it is counted and ignored.
    const c = newProvider();
    await ctx.evil.publish(`$KV.ntx-offer-book.forge.${c.id}`, "not an offer");
    await ctx.stopMatchers();
    const again = await ctx.matcher({ durable: "forge-3" });
    expect(again.book.get(c.id)).toBeUndefined();
    expect((await rejections(again))["offer/malformed"]).toBeGreaterThanOrEqual(1);
  });
});
