/**
 * Attacks on confirmations, from a raw client: one with the right matchId and provider but another job's
 * hash (once refused live but accepted by the lapse-time check), and one stored after `confirmBy` (late by
 * the server's clock, however fast the matcher reads it). Both must lapse the match, live and at lapse time.
 */
import { describe, expect, it } from "vitest";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { jobHash } from "../../src/market/job-hash.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { bidSubject, confirmSubject } from "../../src/nats/subjects.js";
import { arena, counter } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { decodeJson, waitFor } from "./harness.js";

const ctx = arena();

describe("confirmations that must not count", () => {
  it("another job's hash, or stored after confirmBy: the match lapses and the bid goes to the next provider", async () => {
    const liar = newProvider();
    const late = newProvider();
    const honest = newProvider();
    // Prices order the providers: the liar first, then the late one, then the honest one.
    await ctx.market.client.publishOffer(makeOffer(liar, { region: "conf", prices: { cpuCoreHour: "1", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" } }));
    await ctx.market.client.publishOffer(makeOffer(late, { region: "conf", prices: { cpuCoreHour: "2", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" } }));
    await ctx.market.client.publishOffer(makeOffer(honest, { region: "conf", prices: { cpuCoreHour: "3", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" } }));
    const matcher = await ctx.matcher({ durable: "conf", confirmWindowMs: 4_000 });
    const matches: MatchInput[] = [];
    const sub = ctx.evil.nc.subscribe("ntx.matches.*", { callback: (_e, m) => void matches.push(decodeJson<MatchInput>(m.data)) });
    const bid = makeBid(newBuyer(), { regions: ["conf"] });
    const hash = jobHash(bid.spec);
    await ctx.evil.publish(bidSubject(hash), json(bid));

    const first = await waitFor("the liar's match", () => matches.find((m) => m.offer.providerId === liar.id));
    // Right matchId and provider, another jobHash, on this job's confirm subject: stored, refused live, and
    // still refused when the window ends and the matcher reads the job's last stored confirmation.
    const wrongJob = signProviderConfirm(liar.privateKey, { v: 1, type: "provider-confirm", matchId: first.matchId, jobHash: "ee".repeat(32), providerId: liar.id, confirmedAt: Date.now() });
    expect(await ctx.evil.publish(confirmSubject(hash), JSON.stringify(wrongJob))).toMatch(/"seq":/);

    const second = await waitFor("re-matched to the late provider", () => matches.find((m) => m.offer.providerId === late.id), 20_000);
    // Sent after the window ended: the server's stored time is past confirmBy.
    await new Promise((r) => setTimeout(r, Math.max(0, second.confirmBy - Date.now() + 300)));
    const tooLate = signProviderConfirm(late.privateKey, { v: 1, type: "provider-confirm", matchId: second.matchId, jobHash: hash, providerId: late.id, confirmedAt: second.confirmBy - 1 });
    await ctx.evil.publish(confirmSubject(hash), JSON.stringify(tooLate));

    const third = await waitFor("re-matched to the honest provider", () => matches.find((m) => m.offer.providerId === honest.id), 20_000);
    const onTime = signProviderConfirm(honest.privateKey, { v: 1, type: "provider-confirm", matchId: third.matchId, jobHash: hash, providerId: honest.id, confirmedAt: Date.now() });
    await ctx.evil.publish(confirmSubject(hash), JSON.stringify(onTime));
    await waitFor("confirmed by the honest provider", async () => (await counter(matcher.metrics.confirmed)) === 1);
    expect(await counter(matcher.metrics.lapsed)).toBe(2);
    expect(third.attempt).toBe(3);
    sub.unsubscribe();
  });

  it("an in-time confirmation no matcher saw live still counts behind a later message on the job's confirm subject", async () => {
    // Alone: every durable consumer gets every bid, and another instance would see the confirmation live.
    await ctx.stopMatchers();
    const provider = newProvider();
    await ctx.market.client.publishOffer(makeOffer(provider, { region: "hidden" }));
    // Short ack wait: the bid comes back to the next instance soon after the first one stops.
    const first = await ctx.matcher({ durable: "hidden", confirmWindowMs: 8_000, ackWaitMs: 2_000 });
    const matches: MatchInput[] = [];
    const sub = ctx.evil.nc.subscribe("ntx.matches.*", { callback: (_e, m) => void matches.push(decodeJson<MatchInput>(m.data)) });
    const bid = makeBid(newBuyer(), { regions: ["hidden"] });
    const hash = jobHash(bid.spec);
    await ctx.evil.publish(bidSubject(hash), json(bid));
    const match = await waitFor("the match", () => matches.find((m) => m.jobHash === hash));
    // No instance holds the bid while its in-time confirmation is stored (a restart, a NATS failover).
    await first.stop();
    const onTime = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: match.matchId, jobHash: hash, providerId: provider.id, confirmedAt: Date.now() });
    await ctx.evil.publish(confirmSubject(hash), JSON.stringify(onTime));
    // Then later messages on the subject: a signed confirmation of a match that does not exist, and junk.
    const other = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: `${hash}-9`, jobHash: hash, providerId: provider.id, confirmedAt: Date.now() });
    await ctx.evil.publish(confirmSubject(hash), JSON.stringify(other));
    await ctx.evil.publish(confirmSubject(hash), "{}");
    const second = await ctx.matcher({ durable: "hidden", confirmWindowMs: 8_000, ackWaitMs: 2_000 });
    await waitFor("the redelivered bid confirmed from the stream", async () => (await counter(second.metrics.confirmed)) === 1, 30_000);
    expect(await counter(second.metrics.lapsed)).toBe(0);
    expect(matches.filter((m) => m.jobHash === hash)).toHaveLength(1);
    sub.unsubscribe();
  });
});
