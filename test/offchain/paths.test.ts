import type { TxSignBuilder } from "../../offchain/emulator.js";
import { beforeEach, describe, expect, it } from "vitest";
import {
  buildAcceptTx,
  buildLockTx,
  buildCancelTx,
  buildClaimTx,
  buildCompleteTx,
  buildDisputeTx,
  buildRefundTx,
  buildResolveTx,
  getEscrowUtxo,
  readEscrowUtxos,
  signCompletionProof,
  type EscrowUtxo,
} from "../../offchain/index.js";
import { createEscrowWorld, randomHex, type EscrowWorld } from "../helpers/emulator.js";

/*
 * Every escrow path through the offchain builders, on the Emulator with local UPLC evaluation (the validator runs
 * for each spend), checking who ends up with what.
 */

const fee = (tx: TxSignBuilder) => tx.toTransaction().body().fee();

async function complete(w: EscrowWorld, escrow: EscrowUtxo, validForMs = 60_000): Promise<EscrowUtxo> {
  const resultHash = randomHex(32);
  const signature = await signCompletionProof(w.proofWallet, { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
  const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow, resultHash, signature, now: w.emulator.now(), validForMs });
  const txHash = await w.submit("provider", tx);
  const completed = await getEscrowUtxo(w.lucid, w.script, { txHash, outputIndex: 0 });
  expect(completed.datum.state).toMatchObject({ kind: "completed", resultHash });
  expect(completed.utxo.assets).toEqual(escrow.utxo.assets);
  return completed;
}

describe("escrow paths", () => {
  let w: EscrowWorld;
  beforeEach(async () => {
    w = await createEscrowWorld();
  });

  it("locks several jobs in one transaction, each a funded escrow holding its NTX", async () => {
    const before = await w.balance("requester", w.ntxUnit);
    const escrows = await w.lock([{ amount: 10n }, { amount: 20n }, { amount: 30n }]);
    expect(escrows.map((e) => e.datum.amount)).toEqual([10n, 20n, 30n]);
    expect(escrows.every((e) => e.funded && e.datum.state.kind === "locked")).toBe(true);
    expect(escrows.every((e) => e.datum.requester === w.parties.requester.keyHash)).toBe(true);
    expect(await w.balance("requester", w.ntxUnit)).toBe(before - 60n);
    const scan = await readEscrowUtxos(w.lucid, w.script);
    expect(scan.escrows).toHaveLength(3);
    expect(scan.skipped).toHaveLength(0);
  });

  it("a signed lock that was not submitted in time expires instead of paying later", async () => {
    const build = () => buildLockTx(w.as("requester"), { script: w.script, jobs: [w.job()], now: w.emulator.now(), validForMs: 60_000 });
    const late = await build();
    w.emulator.awaitSlot(120);
    await expect(w.submit("requester", late)).rejects.toThrow(/upper bound/i);
    const scan = await readEscrowUtxos(w.lucid, w.script);
    expect(scan.escrows).toHaveLength(0);
    // The same lock built now goes through: only the validity range differed.
    await w.submit("requester", await build());
    expect((await readEscrowUtxos(w.lucid, w.script)).escrows).toHaveLength(1);
  });

  it("complete then claim after the window: provider gets the NTX, requester the escrow's ADA", async () => {
    const [locked] = await w.lock([{ amount: 75_000_000n }]);
    const completed = await complete(w, locked!);
    const window = completed.datum.state.kind === "completed" ? completed.datum.state.completedAt + completed.datum.challengeWindow : 0;
    expect(window).toBeGreaterThan(w.emulator.now());
    w.emulator.awaitSlot(Math.ceil((window - w.emulator.now()) / 1000) + 1);
    const providerNtx = await w.balance("provider", w.ntxUnit);
    const requesterAda = await w.balance("requester");
    const tx = await buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: [completed], now: w.emulator.now() });
    await w.submit("provider", tx);
    expect(await w.balance("provider", w.ntxUnit)).toBe(providerNtx + 75_000_000n);
    expect(await w.balance("requester")).toBe(requesterAda + completed.utxo.assets.lovelace!);
    expect((await readEscrowUtxos(w.lucid, w.script)).escrows).toHaveLength(0);
  });

  it("claims several escrows in one transaction", async () => {
    const locked = await w.lock([{ amount: 1n }, { amount: 2n }, { amount: 3n }, { amount: 4n }, { amount: 5n }]);
    const completed: EscrowUtxo[] = [];
    for (const e of locked) completed.push(await complete(w, e));
    w.emulator.awaitSlot(700);
    const providerNtx = await w.balance("provider", w.ntxUnit);
    const requesterAda = await w.balance("requester");
    const tx = await buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: completed, now: w.emulator.now() });
    await w.submit("provider", tx);
    expect(await w.balance("provider", w.ntxUnit)).toBe(providerNtx + 15n);
    const lovelace = completed.reduce((s, e) => s + e.utxo.assets.lovelace!, 0n);
    expect(await w.balance("requester")).toBe(requesterAda + lovelace);
  });

  it("accept: the requester pays the provider inside the window", async () => {
    const [locked] = await w.lock([{ amount: 40n }]);
    const completed = await complete(w, locked!);
    const providerNtx = await w.balance("provider", w.ntxUnit);
    const requesterAda = await w.balance("requester");
    const tx = await buildAcceptTx(w.as("requester"), { deployment: w.deployment, escrow: completed });
    await w.submit("requester", tx);
    expect(await w.balance("provider", w.ntxUnit)).toBe(providerNtx + 40n);
    // The requester built it, so it also funds the min-ADA of the provider's payout output.
    const providerOutputAda = tx.toTransaction().body().outputs().get(0).amount().coin();
    expect(await w.balance("requester")).toBe(requesterAda + completed.utxo.assets.lovelace! - fee(tx) - providerOutputAda);
  });

  it("refund: after the deadline without completion, the requester takes everything back", async () => {
    const [locked] = await w.lock([{ amount: 33n, deadline: w.emulator.now() + 120_000 }]);
    const requesterNtx = await w.balance("requester", w.ntxUnit);
    const requesterAda = await w.balance("requester");
    w.emulator.awaitSlot(121);
    const tx = await buildRefundTx(w.as("requester"), { deployment: w.deployment, escrow: locked!, now: w.emulator.now() });
    await w.submit("requester", tx);
    expect(await w.balance("requester", w.ntxUnit)).toBe(requesterNtx + 33n);
    expect(await w.balance("requester")).toBe(requesterAda + locked!.utxo.assets.lovelace! - fee(tx));
  });

  it("dispute inside the window, then the arbiter splits the NTX", async () => {
    const [locked] = await w.lock([{ amount: 100n }]);
    const completed = await complete(w, locked!);
    const disputeTx = await buildDisputeTx(w.as("requester"), { deployment: w.deployment, escrow: completed, now: w.emulator.now() });
    const disputeHash = await w.submit("requester", disputeTx);
    const disputed = await getEscrowUtxo(w.lucid, w.script, { txHash: disputeHash, outputIndex: 0 });
    expect(disputed.datum.state.kind).toBe("disputed");
    expect(disputed.utxo.assets).toEqual(completed.utxo.assets);
    const providerNtx = await w.balance("provider", w.ntxUnit);
    const requesterNtx = await w.balance("requester", w.ntxUnit);
    const requesterAda = await w.balance("requester");
    const tx = await buildResolveTx(w.as("arbiter"), { deployment: w.deployment, escrow: disputed, providerShare: 30n });
    await w.submit("arbiter", tx);
    expect(await w.balance("provider", w.ntxUnit)).toBe(providerNtx + 30n);
    expect(await w.balance("requester", w.ntxUnit)).toBe(requesterNtx + 70n);
    expect(await w.balance("requester")).toBe(requesterAda + disputed.utxo.assets.lovelace!);
  });

  it("resolve may give everything to the requester (no provider output)", async () => {
    const [locked] = await w.lock([{ amount: 100n }]);
    const completed = await complete(w, locked!);
    const disputeHash = await w.submit("requester", await buildDisputeTx(w.as("requester"), { deployment: w.deployment, escrow: completed, now: w.emulator.now() }));
    const disputed = await getEscrowUtxo(w.lucid, w.script, { txHash: disputeHash, outputIndex: 0 });
    const requesterNtx = await w.balance("requester", w.ntxUnit);
    await w.submit("arbiter", await buildResolveTx(w.as("arbiter"), { deployment: w.deployment, escrow: disputed, providerShare: 0n }));
    expect(await w.balance("requester", w.ntxUnit)).toBe(requesterNtx + 100n);
  });

  it("cancel: requester and provider both sign and the funds go back to the requester", async () => {
    const [locked] = await w.lock([{ amount: 12n }]);
    const requesterNtx = await w.balance("requester", w.ntxUnit);
    const tx = await buildCancelTx(w.as("requester"), { deployment: w.deployment, escrow: locked! });
    await w.submit("requester", tx, ["provider"]);
    expect(await w.balance("requester", w.ntxUnit)).toBe(requesterNtx + 12n);
  });

  it("builders refuse what the validator would refuse, with stable codes", async () => {
    const [locked] = await w.lock([{ amount: 5n, arbiter: null }]);
    const deployment = w.deployment;
    const now = w.emulator.now();
    await expect(buildAcceptTx(w.as("requester"), { deployment, escrow: locked! })).rejects.toMatchObject({ code: "ESCROW_STATE" });
    await expect(buildRefundTx(w.as("requester"), { deployment, escrow: locked!, now })).rejects.toMatchObject({ code: "DEADLINE_NOT_REACHED" });
    const resultHash = randomHex(32);
    const otherJob = await signCompletionProof(w.proofWallet, { escrowRef: locked!.escrowRef, jobHash: randomHex(32), resultHash });
    await expect(
      buildCompleteTx(w.as("provider"), { deployment, escrow: locked!, resultHash, signature: otherJob, now }),
    ).rejects.toMatchObject({ code: "INVALID_PROOF" });
    const completed = await complete(w, locked!);
    await expect(buildClaimTx(w.as("provider"), { deployment, escrows: [completed], now: w.emulator.now() })).rejects.toMatchObject({ code: "WINDOW_OPEN" });
    await expect(buildDisputeTx(w.as("requester"), { deployment, escrow: completed, now: w.emulator.now() })).rejects.toMatchObject({ code: "NO_ARBITER" });
    await expect(buildClaimTx(w.as("provider"), { deployment, escrows: [completed, completed] })).rejects.toMatchObject({ code: "INVALID_CLAIM" });
  });

  it("reading escrows skips and reports UTxOs at the script address that are not escrows", async () => {
    await w.lock([{ amount: 9n }]);
    const junk = await w
      .as("outsider")
      .newTx()
      .pay.ToContract(w.script.address, { kind: "inline", value: "d87980" }, { lovelace: 2_000_000n })
      .complete();
    await w.submit("outsider", junk);
    const fake = await w
      .as("outsider")
      .newTx()
      .pay.ToContract(w.script.address, { kind: "inline", value: "d8799f00ff" }, { lovelace: 2_000_000n, [w.fakeUnit]: 9n })
      .complete();
    await w.submit("outsider", fake);
    const scan = await readEscrowUtxos(w.lucid, w.script);
    expect(scan.escrows).toHaveLength(1);
    expect(scan.skipped).toHaveLength(2);
    expect(scan.skipped[0]!.reason).toMatch(/escrow datum/);
  });
});
