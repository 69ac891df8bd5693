/**
 * Finding 4 of the fault suite (docs/RELIABILITY.md): a job confirmed by its provider in time and locked by the
 * buyer ended `expired` in the market's job record. The matcher handled the confirmation late (behind under load),
 * found the match's reservation collected and the provider's room taken, lapsed the match and, the bid having
 * expired meanwhile, wrote `expired` over it. The rule: a confirmation the server stored by `confirmBy` wins,
 * whatever the capacity record says and however late it is handled.
 *
 * From outside: a raw NATS client publishes the bid, rewrites the provider's capacity record as the matcher would
 * find it late (this match's reservation gone, the room held for another job), confirms after the bid's
 * `expiresAt` but before `confirmBy`, and reads the job record and the capacity record straight from their streams.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { jobHash } from "../../src/market/job-hash.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { bidSubject, confirmSubject } from "../../src/nats/subjects.js";
import { arena } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { decodeJson, waitFor } from "./harness.js";

const ctx = arena();

async function lastKv(bucket: string, key: string): Promise<{ value: unknown; time: number } | null> {
  const jsm = await jetstreamManager(ctx.evil.nc);
  try {
    const m = await jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` });
    return m ? { value: m.data.length ? JSON.parse(new TextDecoder().decode(m.data)) : null, time: m.time.getTime() } : null;
  } catch {
    return null;
  }
}

describe("a confirmation stored by confirmBy, handled after the bid expired and its room was taken", () => {
  it("confirms the match: never lapsed, never expired", { timeout: 120_000 }, async () => {
    const matcher = await ctx.matcher({ confirmWindowMs: 30_000 });
    const provider = newProvider();
    await ctx.market.client.publishOffer(makeOffer(provider, { region: "late", resources: { cpuCores: 2, memoryMiB: 2048, diskGiB: 2, gpus: [] } }));
    await waitFor("offer in the book", () => matcher.book.get(provider.id));
    const matches: MatchInput[] = [];
    const sub = ctx.evil.nc.subscribe("ntx.matches.*", { callback: (_e, msg) => { matches.push(decodeJson<MatchInput>(msg.data)); } });

    const bid = makeBid(newBuyer(), { regions: ["late"], expiresAt: Date.now() + 10_000 });
    const hash = jobHash(bid.spec);
    expect(await ctx.evil.publish(bidSubject(hash), json(bid))).toContain('"seq"');
    const match = await waitFor("the match", () => matches.find((m) => m.jobHash === hash), 60_000);

    // As a late matcher finds it: this match's reservation collected, the room reserved for another job.
    const filler = { matchId: "f".repeat(64) + "-1", offerNonce: "0", cpuCores: 2, memoryMiB: 2048, diskGiB: 2, gpuIndices: [], until: Date.now() + 3_600_000, state: "pending" };
    const capacity = { v: 1, providerId: provider.id, reservations: { ["f".repeat(64)]: filler } };
    expect(await ctx.evil.publish(`$KV.ntx-capacity.${provider.id}`, JSON.stringify(capacity))).toContain('"seq"');
    await waitFor("the matcher sees the room taken", () => matcher.book.get(provider.id)?.committed.cpuCores === 2);

    await waitFor("the bid expired", () => Date.now() > bid.expiresAt + 500, 30_000);
    const confirm = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: match.matchId, jobHash: hash, providerId: provider.id, confirmedAt: Date.now() });
    expect(await ctx.evil.publish(confirmSubject(hash), JSON.stringify(confirm))).toContain('"seq"');

    const record = await waitFor("the job record settles", async () => {
      const r = (await lastKv("ntx-jobs", hash))?.value as { state: string } | undefined;
      return r && r.state !== "matched" ? r : undefined;
    }, 60_000);
    sub.unsubscribe();
    const stored = (await ctx.market.client.readStream("matches")).find((m) => m.subject === confirmSubject(hash));
    expect(stored && stored.time <= match.confirmBy).toBe(true);
    expect(record.state).toBe("confirmed");
    expect(matches.filter((m) => m.jobHash === hash).map((m) => m.attempt)).toEqual([1]);
    // The provider's capacity record counts the confirmed job again (over the offer's room, not lost).
    const cap = (await lastKv("ntx-capacity", provider.id))?.value as { reservations: Record<string, { state: string; matchId: string }> };
    expect(cap.reservations[hash]).toMatchObject({ state: "confirmed", matchId: match.matchId });
  });
});
