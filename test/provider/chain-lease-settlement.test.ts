import { beforeAll, describe, expect, it } from "vitest";
import { isNtxError, MAX_LEASE_CLAIM_BATCH } from "../../offchain/index.js";
import { createChainLeaseSettlement } from "../../src/provider/service/chain-lease-settlement.js";
import type { LeaseSettlement, ObservedLease } from "../../src/provider/service/types.js";
import { TEST_NTX } from "../helpers/emulator.js";
import { createLeaseWorld, LEASE_RATE, type LeaseWorld } from "../helpers/lease.js";

/*
 * Which leases the provider runs and claims, on Lucid's Emulator with the real lease script (local UPLC
 * evaluation on): only those for jobs it took, at its rate or above, in its NTX; one lease per job, the same one
 * across claims; claims pay the validator's amount and nothing more.
 */

const TAKEN = "a1".repeat(32);
const CHEAP = "b2".repeat(32);
const UNKNOWN = "c3".repeat(32);

let w: LeaseWorld;
let settlement: LeaseSettlement;
const rejected: string[] = [];

beforeAll(async () => {
  w = await createLeaseWorld();
  settlement = createChainLeaseSettlement({
    lucid: w.as("provider"),
    deployment: w.leaseDeployment,
    asset: TEST_NTX,
    payoutAddress: w.parties.provider.address,
    minRatePerSecond: (jobHash) => (jobHash === TAKEN ? LEASE_RATE : jobHash === CHEAP ? LEASE_RATE * 2n : undefined),
    onRejected: (_lease, reason) => rejected.push(reason),
    now: () => w.emulator.now(),
  });
}, 120_000);

describe("chain lease settlement", () => {
  it("lists one lease per taken job at the provider's rate, the same one across claims, and claims exactly what accrued", async () => {
    const first = await w.open({ jobHash: TAKEN });
    const second = await w.open({ jobHash: TAKEN, durationMs: 1_800_000 });
    await w.open({ jobHash: CHEAP });
    await w.open({ jobHash: UNKNOWN });
    w.as("provider"); // the world's one Lucid instance signs as the provider from here on
    const listed = await settlement.listLeases();
    expect(listed.map((l) => l.jobHash)).toEqual([TAKEN]);
    // The one that runs longest (the first: an hour against half an hour).
    expect(listed[0]!.ref).toEqual({ txHash: first.utxo.txHash, outputIndex: first.utxo.outputIndex });
    expect(rejected.some((r) => r.includes("second lease"))).toBe(true);
    expect(rejected.some((r) => r.includes("below this provider's"))).toBe(true);
    expect(rejected.some((r) => r.includes("no service job"))).toBe(true);

    w.emulator.awaitSlot(120);
    const { txHash } = await settlement.claim(listed);
    const after = await settlement.listLeases();
    expect(after).toHaveLength(1);
    expect(after[0]!.ref.txHash).toBe(txHash);
    const paid = listed[0]!.balance - after[0]!.balance;
    expect(paid).toBe((LEASE_RATE * BigInt(after[0]!.lastClaimMs - listed[0]!.lastClaimMs)) / 1000n);
    expect(paid).toBeGreaterThan(0n);
    // The other lease for the job was not touched.
    expect((await w.reread(second)).datum.lastClaim).toBe(second.datum.lastClaim);
  }, 120_000);

  it("refuses batches over the builder's maximum and claims of leases already spent", async () => {
    w.as("provider");
    const listed = await settlement.listLeases();
    const many: ObservedLease[] = Array.from({ length: MAX_LEASE_CLAIM_BATCH + 1 }, (_, i) => ({ ...listed[0]!, ref: { ...listed[0]!.ref, outputIndex: i } }));
    await expect(settlement.claim(many)).rejects.toSatisfy((e: unknown) => isNtxError(e, "INVALID_CLAIM"));
    w.emulator.awaitSlot(30);
    await settlement.claim(listed);
    // The listed output is spent now: a claim of it finds nothing to spend.
    await expect(settlement.claim(listed)).rejects.toSatisfy((e: unknown) => isNtxError(e, "LEASE_NOT_FOUND"));
  }, 120_000);
});
