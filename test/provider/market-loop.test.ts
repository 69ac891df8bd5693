import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobEvent, jobEventDigest } from "../../src/market/index.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey, jobHash, offerDigest, providerConfirmDigest, signBid, verifyProviderDigest, type UnsignedBid } from "../../src/market/index.js";
import type { MarketClient } from "../../src/nats/index.js";
import { parseProviderConfig } from "../../src/provider/config.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import type { DetectedResources } from "../../src/provider/detect.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { jobEventEncoder, MarketLoop, offerResources } from "../../src/provider/market-loop.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { JobStateStore } from "../../src/provider/state-store.js";
import { FakeEscrow } from "./fake-escrow.js";

// The provider's market decisions. The NATS side is a recording stand-in here; the real client is exercised by
// the devnet end-to-end test.

const PAYOUT = "addr_test1vq95xnv96e676sc2v2qwgr2rk8suk2vqacu5zpuhgl3zsrqch48z2";
const key = proofKeyFromHex(randomBytes(32).toString("hex"));
const config = parseProviderConfig({
  regions: ["eu", "us"],
  prices: { cpuCoreHour: "3600000", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" },
  images: ["ntx-test/busybox:*"],
  keys: { proofKeyFile: "/x", paymentKeyFile: "/y" },
  limits: { maxCpuCores: 2, maxMemoryMiB: 1024, maxDiskGiB: 1, maxDurationMs: 60_000, maxConcurrentJobs: 2 },
});
const detected: DetectedResources = { cpuCores: 8, memoryMiB: 32768, diskFreeGiB: 50, diskPath: "/", gpus: [{ vendor: "NVIDIA", model: "RTX 4090", vramMiB: 24564, usable: true }] };
const buyerSeed = new Uint8Array(randomBytes(32));
const buyerKey = Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(buyerSeed))).toString("hex");

let dir: string;
let offers: Array<Record<string, unknown>>;
let confirms: Array<Record<string, unknown>>;
let loop: MarketLoop;
let daemon: ProviderDaemon;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-market-loop-"));
  offers = [];
  confirms = [];
  const client = {
    publishOffer: async (o: Record<string, unknown>) => { offers.push(o); },
    publishConfirm: async (_j: string, c: Record<string, unknown>) => { confirms.push(c); },
    onMatch: () => () => undefined,
  } as unknown as MarketClient;
  daemon = new ProviderDaemon({ runner: new NoopRunner(), gateway: new FakeEscrow(), store: await JobStateStore.open(dir), proofKey: key, payoutAddress: PAYOUT });
  loop = new MarketLoop({ client, config, detected, proofKey: key, payoutAddress: PAYOUT, daemon });
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

function match(spec: Partial<UnsignedBid["spec"]> = {}, over: { price?: bigint; providerId?: string; jobHash?: string; terms?: UnsignedBid["terms"]; deadlineInMs?: number; gpuIndices?: number[]; offerTerms?: Record<string, unknown> } = {}) {
  const now = Date.now();
  const bid: UnsignedBid = {
    v: 1,
    type: "bid",
    spec: { image: "ntx-test/busybox:1", command: ["true"], env: {}, resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 0 }, maxDurationMs: 10_000, outputs: ["/out"], network: "none", ...spec },
    maxPrice: "100000000",
    deadline: now + (over.deadlineInMs ?? 600_000),
    expiresAt: now + 60_000,
    buyer: { key: buyerKey },
    nonce: "1",
    terms: over.terms ?? { challengeWindowMs: 60_000 },
  };
  const offer = { ...offers[0]!, providerId: over.providerId ?? key.providerId, ...(over.offerTerms ? { terms: { ...(offers[0]!.terms as object), ...over.offerTerms } } : {}) };
  const hash = over.jobHash ?? jobHash(bid.spec);
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      type: "match",
      matchId: `${hash}-1`,
      jobHash: hash,
      attempt: 1,
      bid: signBid(buyerSeed, bid),
      offer,
      price: String(over.price ?? 10_000n),
      reserved: { cpuCores: 1, memoryMiB: 64, diskGiB: 0, gpuIndices: over.gpuIndices ?? [] },
      matcherId: "m1",
      matchedAt: now,
      confirmBy: now + 10_000,
    }),
  );
}

describe("market loop", () => {
  it("offers what the machine has within the configured limits, signed, in every region", async () => {
    await loop.publishOffers();
    expect(offers.map((o) => o.region)).toEqual(["eu", "us"]);
    const offer = offers[0]!;
    expect(offer.resources).toEqual({ cpuCores: 2, memoryMiB: 1024, diskGiB: 1, gpus: [] });
    expect(verifyProviderDigest(offerDigest(offer as never), offer.signature as string, key.providerId)).toBe(true);
    expect(offerResources(detected, { ...config, limits: { ...config.limits, maxGpus: 1 } }, { cpuCores: 1, memoryMiB: 512, gpus: 0 })).toEqual({
      cpuCores: 1,
      memoryMiB: 512,
      diskGiB: 1,
      gpus: [{ model: "rtx-4090", vramMiB: 24564 }],
    });
  });

  it("confirms a match it can serve, hands it to the daemon, and signs the confirmation", async () => {
    await loop.publishOffers();
    expect(await loop.onMatch(match())).toBe("confirmed");
    const confirm = confirms[0]!;
    expect(verifyProviderDigest(providerConfirmDigest(confirm as never), confirm.signature as string, key.providerId)).toBe(true);
    const [job] = daemon.status();
    expect(job?.observed.phase).toBe("awaiting-escrow");
    expect(job?.desired.price).toBe("10000");
    expect(job?.desired.request.limits.timeoutMs).toBe(10_000);
    // Every writable path together stays within the job's disk (0 GiB asked: the 128 MiB minimum).
    const { workDirBytes, outputBytes } = job!.desired.request.limits;
    expect(workDirBytes + outputBytes).toBe(128 * 1024 * 1024);
  });

  it("hands a service match to the service host (at its prices a second) when it has one, never to the batch daemon", async () => {
    await loop.publishOffers();
    const accepted: Array<{ jobHash: string; minRatePerSecond?: bigint; buyerKey: string }> = [];
    const services = { accept: async (p: { request: { jobHash: string }; buyerKey: string; minRatePerSecond?: bigint }) => { accepted.push({ jobHash: p.request.jobHash, buyerKey: p.buyerKey, ...(p.minRatePerSecond === undefined ? {} : { minRatePerSecond: p.minRatePerSecond }) }); } };
    const client = { publishOffer: async () => undefined, publishConfirm: async (_j: string, c: Record<string, unknown>) => { confirms.push(c); }, onMatch: () => () => undefined } as unknown as MarketClient;
    const withHost = new MarketLoop({ client, config, detected, proofKey: key, payoutAddress: PAYOUT, daemon, services: services as never });
    const service = { kind: "service" as const, network: "egress" as const, service: { restart: { policy: "always" as const, maxRestarts: 0 }, ports: [], health: { kind: "command" as const, command: ["true"] }, noticeMs: 1000 } };
    const m = match(service);
    expect(await withHost.onMatch(m)).toBe("confirmed");
    expect(confirms).toHaveLength(1);
    expect(daemon.status()).toHaveLength(0);
    // 1 core at 3,600,000 per core-hour: 1,000 base units a second (rounded up).
    expect(accepted).toEqual([{ jobHash: JSON.parse(new TextDecoder().decode(m)).jobHash, buyerKey, minRatePerSecond: 1_000n }]);
    // An image off the allow-list is still refused before anything is confirmed.
    expect(await withHost.onMatch(match({ ...service, image: "evil/miner:1" }))).toBe("declined");
    expect(accepted).toHaveLength(1);
    // A host that cannot take it (its state folder unwritable) means no confirmation.
    const failing = new MarketLoop({ client, config, detected, proofKey: key, payoutAddress: PAYOUT, daemon, services: { accept: async () => { throw new Error("EACCES"); } } });
    expect(await failing.onMatch(match(service))).toBe("declined");
    expect(confirms).toHaveLength(1);
  });

  it("declines matches it would not serve, and ignores other providers' matches", async () => {
    await loop.publishOffers();
    // 1 core for 10 s at 3,600,000 per core-hour = 10,000.
    expect(await loop.onMatch(match({}, { price: 9_999n }))).toBe("declined");
    expect(await loop.onMatch(match({ network: "egress" }))).toBe("declined");
    const service = { kind: "service" as const, network: "egress" as const, service: { restart: { policy: "always" as const, maxRestarts: 0 }, ports: [], health: { kind: "command" as const, command: ["true"] }, noticeMs: 1000 } };
    expect(await loop.onMatch(match(service))).toBe("declined");
    expect(await loop.onMatch(match({ resources: { cpuCores: 4, memoryMiB: 64, diskGiB: 0 } }, { price: 10_000_000n }))).toBe("declined");
    expect(await loop.onMatch(match({ outputs: ["/etc"] }))).toBe("declined");
    expect(await loop.onMatch(match({}, { jobHash: "ab".repeat(32) }))).toBe("declined");
    expect(await loop.onMatch(match({}, { providerId: `02${"11".repeat(32)}` }))).toBe("ignored");
    expect(await loop.onMatch(new TextEncoder().encode("{not json"))).toBe("ignored");
    expect(confirms).toHaveLength(0);
    expect(daemon.status()).toHaveLength(0);
  });

  it("ignores whatever else arrives on the match subject, without throwing: any JSON, any bytes, a real match of another provider's", async () => {
    const own = JSON.parse(new TextDecoder().decode(match({}))) as Record<string, unknown>;
    const junk = fc.oneof(fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))), fc.uint8Array({ maxLength: 200 }));
    await fc.assert(
      fc.asyncProperty(junk, async (bytes) => {
        expect(await loop.onMatch(bytes)).toBe("ignored");
      }),
      { seed: 15, numRuns: 300 },
    );
    expect(confirms).toHaveLength(0);
    // This provider's own match with a field swapped for anything: the offer's provider id kept, so the schema and
    // the checks decide; never a throw.
    const swapped = fc.tuple(fc.constantFrom(...Object.keys(own).filter((k) => k !== "offer")), fc.jsonValue()).map(([k, v]) => new TextEncoder().encode(JSON.stringify({ ...own, [k]: v })));
    await fc.assert(
      fc.asyncProperty(swapped, async (bytes) => {
        expect(["ignored", "declined", "confirmed"]).toContain(await loop.onMatch(bytes));
      }),
      { seed: 16, numRuns: 200 },
    );
  });

  it("declines before confirming what it would refuse later: unlisted images, terms outside its own, unreserved GPUs", async () => {
    await loop.publishOffers();
    // Not on the allow-list: declined now, before the buyer locks money for it.
    expect(await loop.onMatch(match({ image: "evil/miner:1" }))).toBe("declined");
    // The default terms accept no arbiter, a 24 h window at most, a 7 d deadline horizon.
    expect(await loop.onMatch(match({}, { terms: { challengeWindowMs: 60_000, arbiter: "ab".repeat(28) } }))).toBe("declined");
    expect(await loop.onMatch(match({}, { terms: { challengeWindowMs: 25 * 3_600_000 } }))).toBe("declined");
    expect(await loop.onMatch(match({}, { deadlineInMs: 8 * 24 * 3_600_000 }))).toBe("declined");
    // An offer whose terms are not this provider's (a matcher that rewrote them).
    expect(await loop.onMatch(match({}, { offerTerms: { arbiters: ["ab".repeat(28)] } }))).toBe("declined");
    expect(confirms).toHaveLength(0);
    expect(daemon.status()).toHaveLength(0);
  });

  it("hands a GPU job the devices the match reserved, and keeps the bid's terms for the escrow check", async () => {
    const decisions: string[] = [];
    const gpuLoop = new MarketLoop({ onDecision: (_j, d, r) => decisions.push(`${d}: ${r ?? ""}`), client: { publishOffer: async () => undefined, publishConfirm: async (_j: string, c: Record<string, unknown>) => { confirms.push(c); }, onMatch: () => () => undefined } as unknown as MarketClient, config: { ...config, limits: { ...config.limits, maxGpus: 2 } }, detected, proofKey: key, payoutAddress: PAYOUT, daemon });
    await loop.publishOffers();
    const gpuSpec = { resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 0, gpu: { count: 1 } } };
    // A GPU job whose match reserved no device is declined: "any GPU" could be a card another job holds.
    expect(await gpuLoop.onMatch(match(gpuSpec, { price: 10_000_000n }))).toBe("declined");
    expect(decisions[0]).toMatch(/reserved 0 distinct GPU/);
    expect(await gpuLoop.onMatch(match(gpuSpec, { price: 10_000_000n, gpuIndices: [1] }))).toBe("confirmed");
    const [job] = daemon.status();
    expect(job?.desired.request.resources).toMatchObject({ gpus: 1, gpuDevices: ["1"] });
    expect(job?.desired.bidTerms).toEqual({ challengeWindowMs: 60_000 });
    expect(job?.desired.terms.arbiters).toEqual([]);
  });

  it("publishes a seen escrow as a signed 'locked' event and a refused escrow or a lapsed lock as 'released'", () => {
    const encode = jobEventEncoder(key);
    const kindOf = (phase: string, message?: string) => {
      const bytes = encode({ kind: "job", jobHash: "ab".repeat(32), phase, at: Date.now(), ...(message ? { message } : {}) });
      const event = JobEvent.parse(JSON.parse(new TextDecoder().decode(bytes!)));
      expect(verifyProviderDigest(jobEventDigest(event as never), event.signature, key.providerId)).toBe(true);
      return [event.kind, event.message];
    };
    expect(kindOf("locked")).toEqual(["locked", undefined]);
    expect(kindOf("refused", "released: arbiter x is not one this provider accepts")).toEqual(["released", "released: arbiter x is not one this provider accepts"]);
    expect(kindOf("released", "released: no escrow locked within 600 s")[0]).toBe("released");
  });
});
