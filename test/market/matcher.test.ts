import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeBid, decodeOffer } from "../../src/market/decode.js";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { JobRecord } from "../../src/market/job-record.js";
import { readJobState } from "../../src/market/job-state.js";
import { createMatcher, type Matcher } from "../../src/market/matcher.js";
import { MAX_MESSAGE_BYTES } from "../../src/market/protocol.js";
import { Match, type MatchInput } from "../../src/market/schemas.js";
import { bidSubject, offerSubject } from "../../src/nats/subjects.js";
import { decodeJson, startMarket, waitFor, type Market } from "./harness.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, type Provider } from "./fixtures.js";

let market: Market;
const matchers: Matcher[] = [];

// A fresh server per test: each test's bids stay its own.
beforeEach(async () => {
  market = await startMarket();
});
afterEach(async () => {
  for (const m of matchers.splice(0)) await m.stop();
  await market?.close();
});

async function startMatcher(params: Partial<Parameters<typeof createMatcher>[0]> = {}): Promise<Matcher> {
  const { transport } = await market.transport();
  const m = createMatcher({ transport, verifyWorkers: 0, confirmWindowMs: 5_000, noFitRetryMs: 200, ...params });
  matchers.push(m);
  await m.start();
  return m;
}

function collectMatches(): { list: MatchInput[]; stop: () => void } {
  const list: MatchInput[] = [];
  const stop = market.client.onMatch((_s, data) => list.push(decodeJson<MatchInput>(data)));
  return { list, stop };
}

const region = () => `r${Math.random().toString(36).slice(2, 10)}`;

describe("matcher on a real nats-server", () => {
  it("matches a bid to the cheapest fitting offer, with both signatures inside, and acks it once confirmed", async () => {
    const rg = region();
    const cheap = newProvider();
    const dear = newProvider();
    const small = newProvider();
    await market.client.publishOffer(makeOffer(dear, { region: rg, prices: { cpuCoreHour: "5000", memoryGiBHour: "100", diskGiBHour: "1", gpuHour: "1" } }));
    await market.client.publishOffer(makeOffer(cheap, { region: rg, prices: { cpuCoreHour: "2000", memoryGiBHour: "100", diskGiBHour: "1", gpuHour: "1" } }));
    await market.client.publishOffer(makeOffer(small, { region: rg, resources: { cpuCores: 1, memoryMiB: 512, diskGiB: 1, gpus: [] }, prices: { cpuCoreHour: "1", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" } }));
    const matcher = await startMatcher({ durable: "m-basic" });
    expect(matcher.book.size).toBeGreaterThanOrEqual(3);
    const matches = collectMatches();
    const bid = makeBid(newBuyer(), { regions: [rg] }, { resources: { cpuCores: 2, memoryMiB: 2048, diskGiB: 1 } });
    const hash = decodeBid(json(bid), { now: Date.now() });
    if (!hash.ok) throw new Error("fixture bid invalid");
    await market.client.publishBid(hash.value.jobHash, bid);
    const match = await waitFor("a match", () => matches.list.find((m) => m.jobHash === hash.value.jobHash));
    expect(match.offer.providerId).toBe(cheap.id);
    // 2 cores × 2000 + 2 GiB × 100 + 1 GiB × 1, for one hour.
    expect(match.price).toBe("4201");
    expect(match.attempt).toBe(1);
    expect(Match.safeParse(match).success).toBe(true);
    // The match carries both signed messages: anyone can re-check them.
    expect(decodeBid(json(match.bid), { now: Date.now() }).ok).toBe(true);
    expect(decodeOffer(json(match.offer), { now: Date.now() }).ok).toBe(true);
    const before = await market.client.bidConsumerInfo("m-basic");
    expect(before?.ackPending).toBe(1);
    const confirm = signProviderConfirm(cheap.privateKey, { v: 1, type: "provider-confirm", matchId: match.matchId, jobHash: match.jobHash, providerId: cheap.id, confirmedAt: Date.now() });
    await market.client.publishConfirm(match.jobHash, confirm);
    await waitFor("the bid acked", async () => (await market.client.bidConsumerInfo("m-basic"))?.ackPending === 0);
    expect(matcher.metrics.confirmed.get ? (await matcher.metrics.confirmed.get()).values[0]?.value : 0).toBe(1);
    matches.stop();
  });

  it("re-matches to the next provider when the confirmation lapses, and releases the lapsed reservation", async () => {
    const rg = region();
    const silent = newProvider();
    const second = newProvider();
    await market.client.publishOffer(makeOffer(silent, { region: rg, resources: { cpuCores: 1, memoryMiB: 4096, diskGiB: 10, gpus: [] }, prices: { cpuCoreHour: "10", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" } }));
    await market.client.publishOffer(makeOffer(second, { region: rg, resources: { cpuCores: 1, memoryMiB: 4096, diskGiB: 10, gpus: [] }, prices: { cpuCoreHour: "20", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" } }));
    const matcher = await startMatcher({ durable: "m-lapse", confirmWindowMs: 700 });
    const matches = collectMatches();
    const bid = makeBid(newBuyer(), { regions: [rg] });
    const d = decodeBid(json(bid), { now: Date.now() });
    if (!d.ok) throw new Error("fixture");
    await market.client.publishBid(d.value.jobHash, bid);
    const first = await waitFor("first match", () => matches.list.find((m) => m.jobHash === d.value.jobHash && m.attempt === 1));
    expect(first.offer.providerId).toBe(silent.id);
    // While reserved, the silent provider's only core is taken: the book shows it.
    expect(matcher.book.get(silent.id)?.freeCpu).toBe(0);
    const second2 = await waitFor("re-match", () => matches.list.find((m) => m.jobHash === d.value.jobHash && m.attempt === 2));
    expect(second2.offer.providerId).toBe(second.id);
    await waitFor("silent provider's core released", () => matcher.book.get(silent.id)?.freeCpu === 1);
    const { transport } = await market.transport();
    // The lapse is recorded; the second match, stored over the first, is the job's state now.
    const kv = await transport.jobs.get(d.value.jobHash);
    expect(JobRecord.parse(JSON.parse(new TextDecoder().decode(kv!.value)))).toMatchObject({ state: "lapsed", attempt: 1, providerId: silent.id, excluded: [silent.id] });
    const state = await readJobState(transport, d.value.jobHash);
    expect(state !== "corrupt" && state?.record).toMatchObject({ state: "matched", attempt: 2, providerId: second.id, excluded: [silent.id] });
    matches.stop();
  });

  it("remembers a bounded number of buyer nonces: a remembered one signs one job only, the oldest is forgotten", async () => {
    const rg = region();
    await market.client.publishOffer(makeOffer(newProvider(), { region: rg, resources: { cpuCores: 64, memoryMiB: 65_536, diskGiB: 100, gpus: [] } }));
    const matcher = await startMatcher({ durable: "m-nonces", maxRememberedNonces: 2 });
    const buyer = newBuyer();
    const publish = async (nonce: string, n: number) => {
      const bid = makeBid(buyer, { regions: [rg], nonce }, { command: ["sh", "-c", `echo ${n}`] });
      const d = decodeBid(json(bid), { now: Date.now() });
      if (!d.ok) throw new Error("fixture");
      await market.client.publishBid(d.value.jobHash, bid);
    };
    const matched = async () => (await matcher.metrics.matched.get()).values[0]?.value ?? 0;
    const replayed = async () => (await matcher.metrics.rejected.get()).values.find((v) => v.labels.reason === "replayed")?.value ?? 0;
    for (const [i, nonce] of ["101", "102", "103"].entries()) {
      await publish(nonce, i);
      await waitFor(`bid ${nonce} matched`, async () => (await matched()) === i + 1);
    }
    expect(matcher.stats().rememberedNonces).toBe(2);
    // 103 is remembered: another job under it is a replay. 101 was forgotten: a new job under it is matched.
    await publish("103", 10);
    await waitFor("reuse of a remembered nonce refused", async () => (await replayed()) === 1);
    await publish("101", 11);
    await waitFor("reuse of a forgotten nonce matched", async () => (await matched()) === 4);
    expect(matcher.stats().rememberedNonces).toBe(2);
  });

  it("rejects and counts every kind of bad bid without stopping, then still matches a good one", async () => {
    const rg = region();
    const provider: Provider = newProvider();
    await market.client.publishOffer(makeOffer(provider, { region: rg }));
    const matcher = await startMatcher({ durable: "m-reject" });
    const buyer = newBuyer();
    const good = makeBid(buyer, { regions: [rg] });
    const goodHash = (decodeBid(json(good), { now: Date.now() }) as { value: { jobHash: string } }).value.jobHash;
    const publishTo = (subjectHash: string, data: Uint8Array, msgId?: string) => market.client.publishRaw(bidSubject(subjectHash), data, msgId);
    const h = "ab".repeat(32);
    await publishTo(h, new TextEncoder().encode("{nope"));
    const { signature: _s, ...unsigned } = makeBid(buyer, { regions: [rg] });
    await publishTo(h, json(unsigned));
    await publishTo(h, json({ ...makeBid(buyer, { regions: [rg] }), maxPrice: "1" }));
    await publishTo(h, json(makeBid(buyer, { regions: [rg], expiresAt: Date.now() - 1 })));
    const big = makeBid(buyer, { regions: [rg] }, { env: { BIG: "x".repeat(4000), B2: "x".repeat(4000) } });
    const padded = JSON.stringify(big).replace(/^\{/, `{"pad":"${" ".repeat(MAX_MESSAGE_BYTES)}",`);
    // Refused by the bids stream itself (max_msg_size), before any matcher sees it.
    await expect(publishTo(h, new TextEncoder().encode(padded))).rejects.toThrow(/message size exceeds maximum/);
    // Well-formed and signed, but on a subject that is not its jobHash.
    await publishTo(h, json(makeBid(buyer, { regions: [rg] })));
    // The good bid, then the same signed bid again (past the publisher's de-dup: another message id).
    await market.client.publishBid(goodHash, good);
    await publishTo(goodHash, json(good), "replay-1");
    // Another job signed with the good bid's nonce.
    const sameNonce = makeBid(buyer, { regions: [rg], nonce: good.nonce });
    const sameNonceHash = (decodeBid(json(sameNonce), { now: Date.now() }) as { value: { jobHash: string } }).value.jobHash;
    await market.client.publishBid(sameNonceHash, sameNonce);
    const counts = async () => {
      const m = await matcher.metrics.rejected.get();
      return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
    };
    await waitFor("all rejections counted", async () => {
      const c = await counts();
      return (c.replayed ?? 0) >= 2 && (c.malformed ?? 0) >= 2;
    }, 10_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await counts())}`);
    });
    expect(await counts()).toEqual({ malformed: 2, unsigned: 1, bad_signature: 1, expired: 1, replayed: 2 });
    await waitFor("the good bid matched", async () => (await matcher.metrics.matched.get()).values[0]?.value === 1);
    const stored = await market.transport().then(({ transport }) => readJobState(transport, goodHash));
    expect(stored !== "corrupt" && stored?.record.state).toBe("matched");
  });

  it("rejects and counts bad offers by reason, keeps the newest offer per provider", async () => {
    const rg = region();
    const p = newProvider();
    const impostor = newProvider();
    const matcher = await startMatcher({ durable: "m-offers" });
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
    const subject = offerSubject(rg, p.id);
    const current = makeOffer(p, { region: rg, prices: { cpuCoreHour: "7", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" } });
    const older = makeOffer(p, { region: rg, nonce: "1" });
    await market.client.publishRaw(subject, enc(current));
    await waitFor("current offer", () => matcher.book.get(p.id)?.offer.nonce === current.nonce);
    await market.client.publishRaw(subject, enc(older));
    const { signature: _s, ...unsigned } = makeOffer(p, { region: rg });
    await market.client.publishRaw(subject, enc(unsigned));
    await market.client.publishRaw(subject, enc({ ...makeOffer(impostor, { region: rg }), providerId: p.id }));
    await market.client.publishRaw(subject, enc(makeOffer(p, { region: rg, expiresAt: Date.now() - 1 })));
    await market.client.publishRaw(subject, enc("[1,2"));
    await expect(market.client.publishRaw(subject, new Uint8Array(MAX_MESSAGE_BYTES + 10).fill(32))).rejects.toThrow(/message size exceeds maximum/);
    // Validly signed, but published under another provider's subject.
    await market.client.publishRaw(offerSubject(rg, impostor.id), enc(makeOffer(p, { region: rg })));
    const counts = async () => Object.fromEntries((await matcher.metrics.rejected.get()).values.filter((v) => v.labels.kind === "offer").map((v) => [String(v.labels.reason), v.value]));
    await waitFor("offer rejections", async () => Object.values(await counts()).reduce((a, b) => a + b, 0) >= 6, 10_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await counts())}`);
    });
    expect(await counts()).toEqual({ replayed: 1, unsigned: 1, bad_signature: 1, expired: 1, malformed: 2 });
    // The book still holds the newest valid offer, untouched by the rest.
    expect(matcher.book.get(p.id)?.offer.nonce).toBe(current.nonce);
    expect(matcher.book.get(p.id)?.offer.prices.cpuCoreHour).toBe(7n);
  });
});
