import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LeaseKeeper, LeasePhase, GONE_AFTER_PASSES } from "../../src/provider/service/lease-keeper.js";
import { accrued, paidUntil, planLease } from "../../src/provider/service/lease-schedule.js";
import type { ServiceHandle, ServiceRequestInput, ServiceRunner, ServiceStatus } from "../../src/provider/service/types.js";
import type { ProviderJobEvent } from "../../src/provider/types.js";
import fc from "fast-check";
import { MemoryLeaseLedger } from "./memory-lease-ledger.js";

/**
 * The keeper's schedule against an independent ledger of the lease rules: claims pay exactly rate × elapsed
 * whole slots, in batches; the buyer hears once, `noticeMs` before the stop; the service stops before the money
 * runs out, starts again on a top-up, survives a failed chain read, and is removed once its lease is gone.
 * The same flow on the real engine is in service-runner.test.ts.
 */

const SLOT = 1_000;

class RecordingRunner implements ServiceRunner {
  running = new Set<string>();
  removed = new Set<string>();
  calls: string[] = [];
  async start(request: ServiceRequestInput): Promise<ServiceHandle> {
    this.running.add(request.jobHash);
    this.calls.push(`start ${request.jobHash.slice(0, 4)}`);
    return { jobHash: request.jobHash, containerId: `c-${request.jobHash.slice(0, 8)}`, ports: [] };
  }
  async status(): Promise<ServiceStatus> { return { running: true, restarts: 0, exitCode: null, oomKilled: false, healthy: true }; }
  async stop(handle: ServiceHandle): Promise<void> { this.running.delete(handle.jobHash); this.calls.push(`stop ${handle.jobHash.slice(0, 4)}`); }
  async remove(handle: ServiceHandle): Promise<void> { this.running.delete(handle.jobHash); this.removed.add(handle.jobHash); }
  async list(): Promise<ServiceHandle[]> { return []; }
}

function request(): ServiceRequestInput {
  return {
    jobHash: randomBytes(32).toString("hex"),
    image: "ntx-test-service/standin-node:1",
    command: [],
    resources: { cpuCores: 1, memoryMiB: 64 },
    service: { restart: { policy: "always", maxRestarts: 0 }, ports: [], health: { kind: "command", command: ["true"] }, noticeMs: 30_000 },
  };
}

function setup(schedule = { claimIntervalMs: 60_000, minClaim: 10n ** 12n, stopMarginMs: 5_000 }) {
  const ledger = new MemoryLeaseLedger({ slotMs: SLOT, start: 1_700_000_000_000 });
  const runner = new RecordingRunner();
  const events: ProviderJobEvent[] = [];
  const keeper = new LeaseKeeper({ settlement: ledger, runner, schedule, maxClaimBatch: 2, events: { publish: (e) => { if (e.kind === "job") events.push(e); } }, clock: () => ledger.clock });
  return { ledger, runner, events, keeper };
}

describe("lease schedule", () => {
  it("accrues floor(rate × ms / 1000) as the validator does, capped at the end and the balance, and never claims past the funds", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 10 ** 9 }), (balance, rate, elapsed, length) => {
        const lease = { ref: { txHash: "00".repeat(32), outputIndex: 0 }, jobHash: "11".repeat(32), balance, ratePerSecond: rate, lastClaimMs: 0, endMs: length, noticeMs: 1000 };
        const owed = accrued(lease, elapsed);
        expect(owed <= balance).toBe(true);
        expect(owed).toBe([(rate * BigInt(Math.min(elapsed, length))) / 1000n, balance].reduce((a, b) => (a < b ? a : b)));
        const until = paidUntil(lease);
        expect(until <= length).toBe(true);
        // At paidUntil the accrual fits the balance; the plan stops strictly before it.
        expect(accrued(lease, until) <= balance).toBe(true);
        expect(planLease(lease, until - 1, { claimIntervalMs: 1, minClaim: 1n, stopMarginMs: 1 }).stopNow).toBe(true);
      }),
      { seed: 12, numRuns: 500 },
    );
  });
});

describe("lease keeper", () => {
  it("claims exactly rate × elapsed over an hour, batched two leases a transaction, and a close refunds the rest", async () => {
    const { ledger, keeper } = setup();
    const services = [request(), request(), request()];
    for (const [i, s] of services.entries()) {
      ledger.open(s.jobHash, { deposit: 10n ** 9n, ratePerSecond: BigInt(3 + i), endMs: ledger.clock + 86_400_000, noticeMs: 30_000 });
      await keeper.add({ request: s });
    }
    const start = ledger.clock;
    for (let t = 0; t < 3_600; t += 7) {
      ledger.clock = start + t * 1000 + 333;
      await keeper.tick();
    }
    // Claimed every minute at most; three leases in batches of two = two transactions a round.
    expect(keeper.counters.claims).toBe(ledger.claimTxs.length);
    expect(keeper.counters.claimedLeases).toBeGreaterThan(keeper.counters.claims);
    expect(keeper.counters.claims).toBeLessThanOrEqual(2 * 61);
    for (const s of services) ledger.close(s.jobHash);
    const slots = BigInt(Math.floor((ledger.clock - start) / SLOT));
    expect(ledger.providerPaid).toBe((3n + 4n + 5n) * slots);
    expect(ledger.providerPaid + ledger.buyerRefunded).toBe(3n * 10n ** 9n);
  });

  it("warns once, stops before the funds run out, and starts again on a top-up", async () => {
    const { ledger, runner, events, keeper } = setup({ claimIntervalMs: 20_000, minClaim: 10n ** 12n, stopMarginMs: 5_000 });
    const s = request();
    ledger.open(s.jobHash, { deposit: 10n * 120n, ratePerSecond: 10n, endMs: ledger.clock + 86_400_000, noticeMs: 30_000 });
    const funded = ledger.clock + 120_000;
    await keeper.add({ request: s });
    let noticeAt: number | undefined;
    let stopAt: number | undefined;
    for (let t = 0; t < 200; t++) {
      ledger.clock += 1_000;
      await keeper.tick();
      if (noticeAt === undefined && events.some((e) => e.phase === LeasePhase.Notice)) noticeAt = ledger.clock;
      if (stopAt === undefined && !runner.running.has(s.jobHash)) stopAt = ledger.clock;
    }
    expect(events.filter((e) => e.phase === LeasePhase.Notice)).toHaveLength(1);
    expect(stopAt).toBeDefined();
    expect(stopAt!).toBeLessThan(funded);
    expect(stopAt!).toBeGreaterThanOrEqual(funded - 5_000);
    expect(noticeAt!).toBeLessThanOrEqual(stopAt! - 30_000);
    expect(events.find((e) => e.phase === LeasePhase.Stopped)?.message).toMatch(/ran out of funds/);
    // Everything accrued was claimed; nothing more than the deposit ever.
    expect(ledger.providerPaid).toBeLessThanOrEqual(1_200n);
    expect(ledger.providerPaid).toBeGreaterThanOrEqual(1_150n);

    ledger.topUp(s.jobHash, 10n * 600n);
    ledger.clock += 1_000;
    await keeper.tick();
    expect(runner.running.has(s.jobHash)).toBe(true);
    expect(events.filter((e) => e.phase === LeasePhase.Started)).toHaveLength(2);
  });

  it("stops nothing on a failed chain read, retries a failed claim, and removes a closed lease's service after the absence is confirmed", async () => {
    const { ledger, runner, events, keeper } = setup({ claimIntervalMs: 1_000, minClaim: 1n, stopMarginMs: 5_000 });
    const s = request();
    ledger.open(s.jobHash, { deposit: 10n ** 6n, ratePerSecond: 1n, endMs: ledger.clock + 86_400_000, noticeMs: 30_000 });
    await keeper.add({ request: s });
    ledger.failReads = 5;
    for (let i = 0; i < 5; i++) { ledger.clock += 10_000; await keeper.tick(); }
    expect(runner.running.has(s.jobHash)).toBe(true);
    expect(keeper.counters.readFailures).toBe(5);
    ledger.failClaims = 1;
    ledger.clock += 10_000;
    await keeper.tick();
    expect(keeper.counters.claimFailures).toBe(1);
    ledger.clock += 10_000;
    await keeper.tick();
    expect(ledger.providerPaid).toBe(70n);

    ledger.close(s.jobHash);
    await keeper.tick();
    expect(runner.running.has(s.jobHash)).toBe(false);
    expect(runner.removed.has(s.jobHash)).toBe(false);
    for (let i = 1; i < GONE_AFTER_PASSES; i++) await keeper.tick();
    expect(runner.removed.has(s.jobHash)).toBe(true);
    expect(events.at(-1)?.phase).toBe(LeasePhase.Closed);
    expect(keeper.services()).toEqual([]);
  });
});
