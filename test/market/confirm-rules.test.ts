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
    const matcher = await ctx.matcher({ durable: "conf", confirmWindowMs: 2_000 });
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
});
