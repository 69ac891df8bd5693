/**
 * A reservation never outlives its reason: a provider's `released` event frees it at once, and a confirmed
 * match that is not `locked` within the offer's lock window frees it by itself; a `locked` one holds until
 * the bid's deadline. The provider here has room for exactly one job and never re-publishes its offer, so
 * only the reservation's end can let the next bid (parked meanwhile) through. Events come from a raw client.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { signJobEvent, signProviderConfirm } from "../../src/market/eip712.js";
import { jobHash } from "../../src/market/job-hash.js";
import type { Matcher } from "../../src/market/matcher.js";
import type { JobEventKind, MatchInput } from "../../src/market/schemas.js";
import { bidSubject, confirmSubject, jobEventsSubject } from "../../src/nats/subjects.js";
import { arena } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, offerTerms, type Provider } from "./fixtures.js";
import { decodeJson, waitFor } from "./harness.js";

const ctx = arena();
let matcher: Matcher;
const matches: MatchInput[] = [];

beforeAll(async () => {
  matcher = await ctx.matcher({ durable: "release", noFitRetryMs: 300 });
  ctx.evil.nc.subscribe("ntx.matches.*", { callback: (_e, m) => void matches.push(decodeJson<MatchInput>(m.data)) });
});

const ONE_JOB = { cpuCores: 1, memoryMiB: 1024, diskGiB: 1, gpus: [] };

async function bidAndConfirm(provider: Provider, region: string): Promise<MatchInput> {
  const bid = makeBid(newBuyer(), { regions: [region] });
  const hash = jobHash(bid.spec);
  await ctx.evil.publish(bidSubject(hash), json(bid));
  const m = await waitFor(`match of ${hash.slice(0, 8)}`, () => matches.find((x) => x.jobHash === hash));
  await ctx.evil.publish(confirmSubject(hash), JSON.stringify(signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: m.matchId, jobHash: hash, providerId: provider.id, confirmedAt: Date.now() })));
  return m;
}

async function event(provider: Provider, hash: string, kind: JobEventKind, message?: string) {
  const e = signJobEvent(provider.privateKey, { v: 1, type: "job-event", jobHash: hash, providerId: provider.id, seq: 1, kind, at: Date.now(), ...(message ? { message } : {}) });
  await ctx.evil.publish(jobEventsSubject(hash), JSON.stringify(e));
}

async function nextBidWaits(region: string): Promise<string> {
  const bid = makeBid(newBuyer(), { regions: [region] });
  const hash = jobHash(bid.spec);
  await ctx.evil.publish(bidSubject(hash), json(bid));
  await waitFor("the next bid parked (no room)", () => matcher.stats().parked >= 1);
  await new Promise((r) => setTimeout(r, 1_000));
  expect(matches.find((x) => x.jobHash === hash)).toBeUndefined();
  return hash;
}

describe("reservations end with their job's reason to hold them", () => {
  it("a released event frees the capacity at once", async () => {
    const p = newProvider();
    await ctx.market.client.publishOffer(makeOffer(p, { region: "rel", resources: ONE_JOB }));
    await waitFor("offer", () => matcher.book.get(p.id));
    const first = await bidAndConfirm(p, "rel");
    const next = await nextBidWaits("rel");
    await event(p, first.jobHash, "released", "escrow refused");
    await waitFor("the parked bid matched on the freed capacity", () => matches.find((x) => x.jobHash === next), 20_000);
  });

  it("a confirmed match not locked within the lock window frees it; a locked one holds it", async () => {
    const p = newProvider();
    await ctx.market.client.publishOffer(makeOffer(p, { region: "lockw", resources: ONE_JOB, terms: { ...offerTerms, lockWindowMs: 3_000 } }));
    await waitFor("offer", () => matcher.book.get(p.id));
    const first = await bidAndConfirm(p, "lockw");
    await event(p, first.jobHash, "locked");
    const next = await nextBidWaits("lockw");
    // Locked: it holds past the lock window.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(matches.find((x) => x.jobHash === next)).toBeUndefined();
    // Finished: freed, and the parked bid is matched; that one is confirmed and never locked...
    await event(p, first.jobHash, "completed");
    const second = await waitFor("the parked bid matched after completion", () => matches.find((x) => x.jobHash === next), 20_000);
    await ctx.evil.publish(confirmSubject(next), JSON.stringify(signProviderConfirm(p.privateKey, { v: 1, type: "provider-confirm", matchId: second.matchId, jobHash: next, providerId: p.id, confirmedAt: Date.now() })));
    const third = await nextBidWaits("lockw");
    // ...so its lock window (3 s) ends and the capacity goes to the next one.
    await waitFor("matched once the lock window ended", () => matches.find((x) => x.jobHash === third), 20_000);
  });
});
