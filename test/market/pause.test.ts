/**
 * Attack (or bad luck): the matcher is paused (SIGSTOP) longer than the confirmation window while bids keep
 * coming and providers keep confirming on time. Lateness must be judged by when the server stored each
 * confirmation, not by when the matcher got round to it: after SIGCONT, no confirmation stored before its
 * match's `confirmBy` may be lapsed. Quick tier: 3 s window, 10 s pause; NTX_HEAVY=1: the 30 s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { JobRecord } from "../../src/market/job-record.js";
import { jobHash } from "../../src/market/job-hash.js";
import { signProviderConfirm } from "../../src/market/eip712.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { bidSubject, confirmSubject } from "../../src/nats/subjects.js";
import { arena } from "./attack-kit.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";
import { decodeJson, waitFor } from "./harness.js";

const PAUSE_MS = process.env.NTX_HEAVY === "1" ? 30_000 : 10_000;
const CONFIRM_WINDOW_MS = 3_000;
const runner = fileURLToPath(new URL("./run-paused-matcher.ts", import.meta.url));
const ctx = arena();
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null) {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  }
});

describe(`a matcher paused ${PAUSE_MS / 1000} s under load`, () => {
  it("lapses no match whose confirmation the server stored before confirmBy", { timeout: PAUSE_MS + 120_000 }, async () => {
    const providers = Array.from({ length: 20 }, () => newProvider());
    for (const p of providers) await ctx.market.client.publishOffer(makeOffer(p, { region: "pause", resources: { cpuCores: 64, memoryMiB: 262_144, diskGiB: 1000, gpus: [] } }));
    child = spawn(process.execPath, ["--import", "tsx", runner, ctx.market.server.url, "pause", String(CONFIRM_WINDOW_MS)], { stdio: ["ignore", "pipe", "inherit"] });
    let status = "";
    await new Promise<void>((resolve) => child!.stdout!.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n")) {
        if (line === "ready") resolve();
        else if (line) status = line;
      }
    }));
    // Providers confirm each match at once, from a raw client; the test remembers when each was stored.
    const byId = new Map(providers.map((p) => [p.id, p]));
    const matches = new Map<string, MatchInput>();
    const sub = ctx.evil.nc.subscribe("ntx.matches.*", {
      callback: (_e, msg) => {
        const m = decodeJson<MatchInput>(msg.data);
        if (matches.has(m.matchId)) return;
        matches.set(m.matchId, m);
        const p = byId.get(m.offer.providerId)!;
        const confirm = signProviderConfirm(p.privateKey, { v: 1, type: "provider-confirm", matchId: m.matchId, jobHash: m.jobHash, providerId: p.id, confirmedAt: Date.now() });
        void ctx.evil.publish(confirmSubject(m.jobHash), JSON.stringify(confirm));
      },
    });
    const buyer = newBuyer();
    const hashes: string[] = [];
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const bid = makeBid(buyer, { regions: ["pause"] });
        hashes.push(jobHash(bid.spec));
        await ctx.evil.publish(bidSubject(jobHash(bid.spec)), json(bid));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor("matching under way", () => matches.size >= 50, 30_000);
    child.kill("SIGSTOP");
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    child.kill("SIGCONT");
    sending = false;
    await sender;
    // Every bid sent ends confirmed (matches made before the pause were confirmed during it, on time).
    const jsm = await jetstreamManager(ctx.market.nc);
    const kv = (await ctx.market.transport()).transport.jobs;
    await waitFor(`every job confirmed (${status})`, async () => {
      for (const h of hashes) {
        const rec = await kv.get(h);
        if (!rec || JobRecord.parse(JSON.parse(Buffer.from(rec.value).toString())).state !== "confirmed") return false;
      }
      return true;
    }, 90_000);
    sub.unsubscribe();
    // A lapse is right only for a match whose confirmation the server stored after its confirmBy (a slow
    // provider: this test's own process is loaded too). None may have one stored in time.
    const stream = await ctx.market.client.readStream("matches");
    const confirmedInTime = new Set(
      stream
        .filter((m) => m.subject.endsWith(".confirm"))
        .map((m) => ({ matchId: decodeJson<{ matchId: string }>(m.data).matchId, time: m.time }))
        .filter((c) => matches.has(c.matchId) && c.time <= matches.get(c.matchId)!.confirmBy)
        .map((c) => c.matchId),
    );
    const lapsed = [...matches.values()].filter((m) => [...matches.values()].some((n) => n.jobHash === m.jobHash && n.attempt > m.attempt));
    expect(lapsed.filter((m) => confirmedInTime.has(m.matchId))).toEqual([]);
    expect(status).toMatch(new RegExp(`lapsed ${lapsed.length}$`));
    expect(lapsed.length).toBeLessThan(matches.size / 20);
    // The pause really caught matches in flight: their windows ended while the matcher was stopped, their
    // confirmations were stored in time, and they are confirmed.
    const caught = [...matches.values()].filter((m) => m.confirmBy > pausedAt && m.confirmBy < pausedAt + PAUSE_MS);
    expect(caught.length).toBeGreaterThan(0);
    for (const m of caught) {
      const stored = await jsm.streams.getMessage("NTX_MATCHES", { last_by_subj: confirmSubject(m.jobHash) });
      expect(stored?.time.getTime()).toBeLessThanOrEqual(m.confirmBy);
    }
  });
});
