import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBid } from "../../src/market/decode.js";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { JobRecord } from "../../src/market/job-record.js";
import type { MatchInput } from "../../src/market/schemas.js";
import type { MarketTransport } from "../../src/market/transport.js";
import { decodeJson, startMarket, waitFor, type Market } from "./harness.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, type Provider } from "./fixtures.js";

const runner = fileURLToPath(new URL("./run-matcher.ts", import.meta.url));
let market: Market;
const children: ChildProcess[] = [];

function spawnMatcher(id: string): { child: ChildProcess; matched: () => number; ready: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", runner, market.server.url, "restart-group", id], { stdio: ["ignore", "pipe", "inherit"], cwd: process.cwd() });
  children.push(child);
  let matched = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  child.stdout!.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) {
      if (line === "ready") resolveReady();
      const m = /^matched (\d+)$/.exec(line);
      if (m) matched = Number(m[1]);
    }
  });
  return { child, matched: () => matched, ready };
}

beforeAll(async () => {
  market = await startMarket();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await market?.close();
});

describe("matcher restart", () => {
  it("loses no bid and matches none twice when an instance is killed mid-stream", async () => {
    const providers: Provider[] = Array.from({ length: 40 }, () => newProvider());
    for (const p of providers) await market.client.publishOffer(makeOffer(p, { region: "restart", resources: { cpuCores: 32, memoryMiB: 65536, diskGiB: 100, gpus: [] } }));
    const byId = new Map(providers.map((p) => [p.id, p]));
    // Providers confirm every match they get, as a provider daemon would.
    const stopConfirming = market.client.onMatch((_s, data) => {
      const m = decodeJson<MatchInput>(data);
      const p = byId.get(m.offer.providerId)!;
      void market.client.publishConfirm(m.jobHash, signProviderConfirm(p.privateKey, { v: 1, type: "provider-confirm", matchId: m.matchId, jobHash: m.jobHash, providerId: p.id, confirmedAt: Date.now() }));
    });

    const buyer = newBuyer();
    const total = 1_000;
    const hashes: string[] = [];
    let published = 0;
    const publishSome = async (n: number) => {
      for (let i = 0; i < n && published < total; i++, published++) {
        const bid = makeBid(buyer, { regions: ["restart"] });
        const d = decodeBid(json(bid), { now: Date.now() });
        if (!d.ok) throw new Error("fixture");
        hashes.push(d.value.jobHash);
        await market.client.publishBid(d.value.jobHash, bid);
      }
    };

    await publishSome(300);
    const a = spawnMatcher("A");
    await a.ready;
    // Keep bids coming while A works, then kill it without any chance to ack or clean up.
    await publishSome(200);
    await waitFor("A to match some bids", () => a.matched() >= 100, 60_000);
    a.child.kill("SIGKILL");
    await new Promise((r) => a.child.once("exit", r));
    const matchedByA = a.matched();
    await publishSome(200);
    const b = spawnMatcher("B");
    await b.ready;
    await publishSome(total);
    expect(published).toBe(total);

    const { transport } = await market.transport();
    const records = async (t: MarketTransport) => {
      const out: JobRecord[] = [];
      for (const h of hashes) {
        const r = await t.jobs.get(h);
        if (r) out.push(JobRecord.parse(JSON.parse(new TextDecoder().decode(r.value))));
      }
      return out;
    };
    await waitFor(
      "every bid confirmed",
      async () => {
        const info = await market.client.bidConsumerInfo("restart-group");
        return info?.pending === 0 && info.ackPending === 0;
      },
      90_000,
    );
    const all = await records(transport);
    expect(all.length).toBe(total);
    expect(all.filter((r) => r.state === "confirmed").length).toBe(total);
    stopConfirming();

    const stored = await market.client.readStream("matches");
    const matches = stored.filter((m) => !m.subject.endsWith(".confirm")).map((m) => decodeJson<MatchInput>(m.data));
    const perJob = new Map<string, number>();
    for (const m of matches) perJob.set(m.jobHash, (perJob.get(m.jobHash) ?? 0) + 1);
    expect(perJob.size).toBe(total);
    expect([...perJob.values()].every((n) => n === 1)).toBe(true);
    // Capacity per provider was never exceeded.
    const cores = new Map<string, number>();
    for (const r of all) cores.set(r.providerId!, (cores.get(r.providerId!) ?? 0) + r.reserved!.cpuCores);
    expect(Math.max(...cores.values())).toBeLessThanOrEqual(32);
    // Both instances did part of the work.
    expect(matchedByA).toBeGreaterThan(0);
    expect(matchedByA).toBeLessThan(total);
    expect(matches.filter((m) => m.matcherId === "B").length).toBeGreaterThan(0);
    b.child.kill("SIGTERM");
    await new Promise((r) => b.child.once("exit", r));
  });
});
