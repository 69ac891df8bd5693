/**
 * The market on a real 3-node NATS cluster (role users, every stream/bucket/store at 3 replicas), two matchers,
 * six providers confirming their matches and a buyer publishing signed bids at a steady rate. Mid-load, SIGKILL:
 * the JetStream meta leader, then the bids stream's leader, then a node that leads neither (each brought back
 * and caught up before the next). After each: no stored bid lost, no bid matched twice, and matching goes on
 * by itself; capacity held past an offer is estimated and reported.
 *
 * Both tiers run all three kills. The 10 s bound on how soon matching resumes is a timing, asserted only in the
 * heavy tier (NTX_HEAVY=1, more load); both tiers print the figures, which docs/RELIABILITY.md reports.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultUnderLoad, startClusterMarket, type ClusterMarket, type FaultOutcome } from "./cluster-market.js";

const HEAVY = process.env.NTX_HEAVY === "1";
const LOAD = HEAVY ? { bids: 1_500, ratePerSec: 100, killAtMs: 5_000 } : { bids: 240, ratePerSec: 30, killAtMs: 3_000 };

let market: ClusterMarket;
const outcomes: FaultOutcome[] = [];

beforeAll(async () => {
  market = await startClusterMarket({ matchers: 2, providers: 6, coresPerProvider: HEAVY ? 1_024 : 256 });
}, 120_000);

afterAll(async () => {
  if (outcomes.length) {
    const report = { test: "cluster-leader-kill", tier: HEAVY ? "heavy" : "ci", load: LOAD, loadavg1m: Math.round(loadavg()[0]! * 100) / 100, outcomes };
    console.log(JSON.stringify(report));
    mkdirSync("reports", { recursive: true });
    writeFileSync(`reports/cluster-faults${HEAVY ? "-heavy" : ""}.json`, JSON.stringify(report, null, 2) + "\n");
  }
  await market?.close();
}, 60_000);

describe("a 3-node NATS cluster loses a node mid-load", () => {
  it("is set up with 3 replicas of every stream, bucket and object store", async () => {
    const nc = await market.raw();
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const jsm = await jetstreamManager(nc);
    const replicas: Record<string, number> = {};
    for await (const info of jsm.streams.list()) replicas[info.config.name] = info.config.num_replicas;
    expect(Object.keys(replicas).sort()).toEqual(["KV_ntx-capacity", "KV_ntx-jobs", "KV_ntx-offer-book", "NTX_BIDS", "NTX_JOB_EVENTS", "NTX_JOB_LOGS", "NTX_MATCHES", "NTX_OFFERS", "NTX_PARKED", "OBJ_ntx-results"]);
    expect(Object.values(replicas).every((r) => r === 3)).toBe(true);
  });

  for (const role of ["meta-leader", "bids-stream-leader", "non-leader"] as const) {
    it(`kill the ${role}: no bid lost, none matched twice, matching resumes`, async () => {
      const outcome = await faultUnderLoad(market, role, { ...LOAD, allMatchesTimeoutMs: 90_000 });
      outcomes.push(outcome);
      expect(outcome.bidsUnacked, JSON.stringify(outcome)).toBe(0);
      expect(outcome.lost, JSON.stringify(outcome)).toBe(0);
      expect(outcome.matchedTwice, JSON.stringify(outcome)).toBe(0);
      // Capacity past an offer, by the README's rules from the stream (oversold() in cluster-market.ts). Exact when no
      // match lapsed: a lapsed match's cores are freed at the lapse, which the stream does not show (the estimate
      // holds them until the job's next match, which a parked bid may get much later), so then it is only reported.
      // Before capacity writes expected the stream's last sequence: up to 1,071 of 1,024 cores, reservations dropped.
      if (outcome.rematched === 0) expect(outcome.oversoldPeaks, JSON.stringify(outcome)).toEqual([]);
      expect(outcome.resumeMs, JSON.stringify(outcome)).toBeLessThan(Infinity);
      if (HEAVY) expect(outcome.resumeMs, JSON.stringify(outcome)).toBeLessThanOrEqual(10_000);
    }, 240_000);
  }
});
