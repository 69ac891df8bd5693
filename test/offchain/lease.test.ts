import { describe, expect, it } from "vitest";
import {
  buildLeaseClaimTx,
  buildLeaseCloseTx,
  buildLeaseSettleTx,
  buildLeaseTopUpTx,
  leaseStatus,
  leaseTopUpEnd,
  onChainTime,
  readLeases,
} from "../../offchain/index.js";
import { TEST_NTX } from "../helpers/emulator.js";
import { LEASE_RATE, createLeaseWorld, type LeaseWorld } from "../helpers/lease.js";

/*
 * The lease's honest paths through the project's builders, on the Emulator with local UPLC evaluation: claims over
 * time pay the provider exactly rate × elapsed, checked against the balances on the chain; close and settle pay
 * each side what it is owed. (The attacks, built by hand from plutus.json, are in test/contracts/lease-attacks.)
 */

const ntxOf = async (w: LeaseWorld, role: "provider" | "requester") => w.balance(role, w.ntxUnit);

describe("leases: honest paths", () => {
  it("claims over time pay exactly rate × elapsed; top-up extends the end; close refunds the rest", async () => {
    const w = await createLeaseWorld();
    const opened = await w.open();
    const deposit = LEASE_RATE * 3_600n;
    expect(opened.balance).toBe(deposit);
    expect(opened.datum.end - opened.datum.lastClaim).toBe(3_600_000);

    let lease = opened;
    let paid = 0n;
    for (const seconds of [50, 120, 7]) {
      w.emulator.awaitSlot(seconds + 25);
      const before = await ntxOf(w, "provider");
      const at = w.emulator.now();
      const tx = await buildLeaseClaimTx(w.as("provider"), { deployment: w.leaseDeployment, leases: [lease], now: at });
      await w.submit("provider", tx);
      const t = onChainTime(w.lucid, at);
      const expected = (LEASE_RATE * BigInt(t - lease.datum.lastClaim)) / 1000n;
      expect(expected).toBeGreaterThan(0n);
      expect((await ntxOf(w, "provider")) - before).toBe(expected);
      const next = (await readLeases(w.lucid, w.lease, { provider: w.parties.provider.address })).leases;
      expect(next).toHaveLength(1);
      lease = next[0]!;
      expect(lease.datum.lastClaim).toBe(t);
      expect(lease.balance).toBe(opened.balance - paid - expected);
      expect(lease.lovelace).toBe(opened.lovelace);
      paid += expected;
    }
    expect(paid).toBe((LEASE_RATE * BigInt(lease.datum.lastClaim - opened.datum.lastClaim)) / 1000n);

    // Top-up: 600 s more at the rate.
    const add = LEASE_RATE * 600n;
    const buyerBefore = await ntxOf(w, "requester");
    const topUp = await buildLeaseTopUpTx(w.as("requester"), { deployment: w.leaseDeployment, lease, add, now: w.emulator.now() });
    await w.submit("requester", topUp);
    expect(buyerBefore - (await ntxOf(w, "requester"))).toBe(add);
    const topped = (await readLeases(w.lucid, w.lease, { buyer: w.parties.requester.keyHash })).leases[0]!;
    expect(topped.datum.end).toBe(leaseTopUpEnd(lease.datum, add));
    expect(topped.datum.end - lease.datum.end).toBe(600_000);
    expect(topped.balance).toBe(lease.balance + add);

    // Close: the provider gets what accrued to the upper bound, the buyer the rest and all the lovelace.
    w.emulator.awaitSlot(40);
    const at = w.emulator.now();
    const provBefore = await ntxOf(w, "provider");
    const buyBefore = await ntxOf(w, "requester");
    const close = await buildLeaseCloseTx(w.as("requester"), { deployment: w.leaseDeployment, lease: topped, now: at, validForMs: 60_000 });
    await w.submit("requester", close);
    const ub = onChainTime(w.lucid, onChainTime(w.lucid, at) + 60_000);
    const owed = (LEASE_RATE * BigInt(ub - topped.datum.lastClaim)) / 1000n;
    expect((await ntxOf(w, "provider")) - provBefore).toBe(owed);
    expect((await ntxOf(w, "requester")) - buyBefore).toBe(topped.balance - owed);
    expect((await readLeases(w.lucid, w.lease)).leases).toHaveLength(0);
  }, 180_000);

  it("a provider claims many leases in one transaction; after the end anyone settles, the provider capped at end", async () => {
    const w = await createLeaseWorld();
    const leases = await w.openMany(5, { durationMs: 60_000 });
    w.emulator.awaitSlot(40);
    const before = await ntxOf(w, "provider");
    const at = w.emulator.now();
    await w.submit("provider", await buildLeaseClaimTx(w.as("provider"), { deployment: w.leaseDeployment, leases, now: at }));
    const t = onChainTime(w.lucid, at);
    const each = (LEASE_RATE * BigInt(t - leases[0]!.datum.lastClaim)) / 1000n;
    expect((await ntxOf(w, "provider")) - before).toBe(each * 5n);
    const after = (await readLeases(w.lucid, w.lease, { provider: w.parties.provider.address, asset: TEST_NTX, now: w.emulator.now() })).leases;
    expect(after).toHaveLength(5);
    for (const l of after) expect(l.balance).toBe(leases[0]!.balance - each);

    // Past the end: the outsider settles one; the provider is paid only to end.
    w.emulator.awaitSlot(120);
    const status = leaseStatus(after[0]!, w.emulator.now());
    expect(status.ended).toBe(true);
    expect(status.timeLeftMs).toBe(0);
    const provBefore = await ntxOf(w, "provider");
    const buyBefore = await ntxOf(w, "requester");
    await w.submit("outsider", await buildLeaseSettleTx(w.as("outsider"), { deployment: w.leaseDeployment, lease: after[0]!, now: w.emulator.now() }));
    const owed = (LEASE_RATE * BigInt(after[0]!.datum.end - after[0]!.datum.lastClaim)) / 1000n;
    expect(owed).toBe(status.accrued);
    expect((await ntxOf(w, "provider")) - provBefore).toBe(owed);
    expect((await ntxOf(w, "requester")) - buyBefore).toBe(after[0]!.balance - owed);
  }, 180_000);

  it("status: accrued, remaining and time left as plain data", async () => {
    const w = await createLeaseWorld();
    const lease = await w.open({ durationMs: 100_000, notice: 30_000 });
    const at = lease.datum.lastClaim + 40_000;
    const s = leaseStatus(lease, at);
    expect(s).toEqual({
      at,
      accrued: LEASE_RATE * 40n,
      remaining: LEASE_RATE * 60n,
      paidUntil: lease.datum.end,
      timeLeftMs: 60_000,
      noticeAt: lease.datum.end - 30_000,
      ended: false,
      dry: false,
    });
    expect(leaseStatus(lease, lease.datum.end + 1).dry).toBe(true);
  }, 60_000);

  it("the builders refuse what the validator would refuse, with a stable code; the reader skips what is not a lease", async () => {
    const w = await createLeaseWorld();
    const lease = await w.open({ durationMs: 120_000 });
    const code = (c: string) => expect.objectContaining({ code: c });
    const d = w.leaseDeployment;
    await expect(buildLeaseClaimTx(w.as("provider"), { deployment: d, leases: [lease], now: lease.datum.lastClaim - 5_000 })).rejects.toThrow(code("NOTHING_TO_CLAIM"));
    await expect(buildLeaseClaimTx(w.as("outsider"), { deployment: d, leases: [lease], now: w.emulator.now() })).rejects.toThrow(code("NOT_THE_PROVIDER"));
    await expect(buildLeaseClaimTx(w.as("provider"), { deployment: d, leases: [lease, lease] })).rejects.toThrow(code("INVALID_CLAIM"));
    await expect(buildLeaseCloseTx(w.as("provider"), { deployment: d, lease })).rejects.toThrow(code("NOT_THE_BUYER"));
    await expect(buildLeaseCloseTx(w.as("requester"), { deployment: d, lease, validForMs: 3_600_000 })).rejects.toThrow(code("INVALID_CLOSE"));
    await expect(buildLeaseTopUpTx(w.as("outsider"), { deployment: d, lease, add: 10_000n, now: w.emulator.now() })).rejects.toThrow(code("NOT_THE_BUYER"));
    await expect(buildLeaseTopUpTx(w.as("requester"), { deployment: d, lease, add: 999n, now: w.emulator.now() })).rejects.toThrow(code("INVALID_TOPUP"));
    await expect(buildLeaseTopUpTx(w.as("requester"), { deployment: d, lease, add: 10_000n, now: lease.datum.end })).rejects.toThrow(code("LEASE_ENDED"));
    await expect(buildLeaseSettleTx(w.as("outsider"), { deployment: d, lease, now: w.emulator.now() })).rejects.toThrow(code("LEASE_NOT_ENDED"));

    // Garbage at the lease address, and a lease carrying a foreign token, are reported, never thrown.
    const junk = await w.as("outsider").newTx()
      .pay.ToContract(w.lease.address, { kind: "inline", value: "d87980" }, { lovelace: 2_000_000n })
      .pay.ToContract(w.lease.address, { kind: "inline", value: lease.utxo.datum! }, { lovelace: 3_000_000n, [w.ntxUnit]: 5_000n, [w.fakeUnit]: 1n })
      .complete();
    const junkHash = await w.submit("outsider", junk);
    const scan = await readLeases(w.lucid, w.lease, { asset: TEST_NTX });
    expect(scan.skipped.map((s) => s.outRef)).toEqual([{ txHash: junkHash, outputIndex: 0 }]);
    const odd = scan.leases.find((l) => l.utxo.txHash === junkHash)!;
    expect(odd.wellFormed).toBe(false);
    await expect(buildLeaseClaimTx(w.as("provider"), { deployment: d, leases: [odd] })).rejects.toThrow(code("LEASE_MALFORMED"));
    expect((await readLeases(w.lucid, w.lease, { buyer: w.parties.outsider.keyHash })).leases).toHaveLength(0);
    expect((await readLeases(w.lucid, w.lease, { provider: w.parties.arbiter.address })).leases).toHaveLength(0);
  }, 120_000);
});
