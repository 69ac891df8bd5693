import { credentialToAddress } from "@lucid-evolution/lucid";
import { describe, expect, it } from "vitest";
import { buildAcceptBatchTx, buildClaimTx, buildCompleteTx, encodeEscrowDatum, getEscrowUtxo, readEscrowUtxos, signCompletionProof, type EscrowUtxo } from "../../offchain/index.js";
import { createEscrowWorld, randomHex, type EscrowWorld } from "../helpers/emulator.js";

/*
 * Batch claims through the builder, on the Emulator with local UPLC evaluation: one claim settles many escrows,
 * each from a different buyer, and everyone ends up with exactly what they are owed. The CI tier claims 12; the
 * heavy tier (NTX_HEAVY=1) claims 100 in one transaction, as the issue asks (its local evaluation takes minutes on
 * a loaded 2-core machine, see docs/DECISIONS.md).
 */

const HEAVY = process.env.NTX_HEAVY === "1";

/** `n` escrows in the Completed state with their windows over, each from its own buyer (a fresh key hash). */
async function claimable(w: EscrowWorld, n: number, payouts: string[]): Promise<EscrowUtxo[]> {
  for (let left = n, k = 0; left > 0; left -= 40) {
    let tx = w.as("requester").newTx();
    for (let i = 0; i < Math.min(40, left); i++, k++) {
      const datum = encodeEscrowDatum({
        ...w.job({ amount: BigInt(1_000 + k), challengeWindow: 1_000, payout: payouts[k % payouts.length]! }),
        arbiter: null,
        requester: randomHex(28),
        state: { kind: "completed", resultHash: randomHex(32), completedAt: w.emulator.now() - 10_000 },
      });
      tx = tx.pay.ToContract(w.script.address, { kind: "inline", value: datum }, { lovelace: 1_500_000n + BigInt(k), [w.ntxUnit]: BigInt(1_000 + k) });
    }
    await w.submit("requester", await tx.complete());
  }
  w.emulator.awaitSlot(5);
  return (await readEscrowUtxos(w.lucid, w.script)).escrows;
}

async function claimAll(w: EscrowWorld, escrows: EscrowUtxo[]) {
  const before = new Map<string, bigint>();
  const requesterAddress = (e: EscrowUtxo) => credentialToAddress("Custom", { type: "Key", hash: e.datum.requester });
  const payoutBefore = new Map<string, bigint>();
  for (const e of escrows) payoutBefore.set(e.datum.payout, 0n);
  for (const address of payoutBefore.keys()) {
    payoutBefore.set(address, (await w.emulator.getUtxos(address)).reduce((s, u) => s + (u.assets[w.ntxUnit] ?? 0n), 0n));
  }
  for (const e of escrows) before.set(e.datum.requester, 0n);
  const tx = await buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows, now: w.emulator.now() });
  const body = tx.toTransaction().body();
  expect(body.withdrawals()?.len()).toBe(1);
  await w.submit("provider", tx);
  expect((await readEscrowUtxos(w.lucid, w.script)).escrows).toHaveLength(0);
  for (const e of escrows) {
    const got = (await w.emulator.getUtxos(requesterAddress(e))).reduce((s, u) => s + (u.assets.lovelace ?? 0n), 0n);
    expect(got).toBe(e.utxo.assets.lovelace);
  }
  for (const [address, was] of payoutBefore) {
    const owed = escrows.filter((e) => e.datum.payout === address).reduce((s, e) => s + e.datum.amount, 0n);
    const now = (await w.emulator.getUtxos(address)).reduce((s, u) => s + (u.assets[w.ntxUnit] ?? 0n), 0n);
    expect(now - was).toBe(owed);
  }
  return body;
}

describe("batch claims", () => {
  it("settles 12 escrows of 12 buyers and two providers in one claim, every party paid exactly", async () => {
    const w = await createEscrowWorld();
    const escrows = await claimable(w, 12, [w.parties.provider.address, w.parties.arbiter.address]);
    expect(new Set(escrows.map((e) => e.datum.requester)).size).toBe(12);
    const body = await claimAll(w, escrows);
    // One spend per escrow plus the fee input; no pair of tagged outputs per escrow.
    expect(body.inputs().len()).toBeGreaterThanOrEqual(13);
    expect(body.outputs().len()).toBeLessThanOrEqual(12 + 12 + 1);
  }, 300_000);

  it("one payout output per provider when all escrows pay the same address", async () => {
    const w = await createEscrowWorld();
    const escrows = await claimable(w, 6, [w.parties.arbiter.address]);
    const body = await claimAll(w, escrows);
    let toArbiter = 0;
    for (let i = 0; i < body.outputs().len(); i++) if (body.outputs().get(i).address().to_bech32(undefined) === w.parties.arbiter.address) toArbiter++;
    expect(toArbiter).toBe(1);
  }, 300_000);

  it("the requester accepts three escrows in one transaction inside their windows", async () => {
    const w = await createEscrowWorld();
    const locked = await w.lock([{ amount: 7n }, { amount: 8n }, { amount: 9n }]);
    const completed: EscrowUtxo[] = [];
    for (const e of locked) {
      const resultHash = randomHex(32);
      const signature = await signCompletionProof(w.proofWallet, { escrowRef: e.escrowRef, jobHash: e.datum.jobHash, resultHash });
      const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow: e, resultHash, signature, now: w.emulator.now() });
      completed.push(await getEscrowUtxo(w.lucid, w.script, { txHash: await w.submit("provider", tx), outputIndex: 0 }));
    }
    const before = await w.balance("provider", w.ntxUnit);
    await w.submit("requester", await buildAcceptBatchTx(w.as("requester"), { deployment: w.deployment, escrows: completed }));
    expect((await w.balance("provider", w.ntxUnit)) - before).toBe(24n);
    expect((await readEscrowUtxos(w.lucid, w.script)).escrows).toHaveLength(0);
  }, 300_000);

  it.runIf(HEAVY)("settles 100 escrows, each from a different buyer, in one claim", async () => {
    const w = await createEscrowWorld({ lovelacePerParty: 20_000_000_000n });
    const escrows = await claimable(w, 100, [w.parties.provider.address]);
    expect(new Set(escrows.map((e) => e.datum.requester)).size).toBe(100);
    await claimAll(w, escrows);
  }, 1_800_000);
});
