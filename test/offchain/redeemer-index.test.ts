import { describe, expect, it } from "vitest";
import { buildClaimTx, buildCompleteTx, buildDisputeTx, getEscrowUtxo, signCompletionProof, type EscrowUtxo } from "../../offchain/index.js";
import { createEscrowWorld, randomHex, type EscrowWorld, type Role } from "../helpers/emulator.js";

/*
 * A wallet of small outputs, as a provider's becomes while its one large output is held by a transaction not yet
 * in a block. Lucid balances a script spend twice: first with the largest budgets a transaction may have (a fee of
 * about 2 ADA, two wallet inputs here), then with the evaluated ones (one input). Its redeemers were built against the
 * first input set: when the dropped input sorts before the escrow, the escrow's input index in the redeemer is one
 * too high and the validator fails ("the validator crashed / exited prematurely"). Seen once in a 1,500-job load run:
 * a provider's claim failed 3 times and was set aside with its NTX in the escrow. Every single-escrow path must
 * build from such a wallet.
 */

async function completed(w: EscrowWorld, count: number, failures: string[], challengeWindow = 2_000): Promise<EscrowUtxo[]> {
  const out: EscrowUtxo[] = [];
  // One lock per escrow: escrows of different transactions sort differently against the wallet's inputs.
  for (let i = 0; i < count; i++) {
    const [locked] = await w.lock([{ amount: 1_000_000n + BigInt(i), challengeWindow }]);
    const resultHash = randomHex(32);
    const signature = await signCompletionProof(w.proofWallet, { escrowRef: locked!.escrowRef, jobHash: locked!.datum.jobHash, resultHash });
    try {
      const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow: locked!, resultHash, signature, now: w.emulator.now(), validForMs: 20_000 });
      out.push(await getEscrowUtxo(w.lucid, w.script, { txHash: await w.submit("provider", tx), outputIndex: 0 }));
    } catch (error) {
      failures.push(`complete ${locked!.utxo.txHash.slice(0, 8)}: ${(error as Error).message.slice(0, 160)}`);
    }
  }
  return out;
}

/** Leaves `role`'s wallet with `count` outputs of `lovelace` each, in `txs` transactions (different ids). */
async function smallOutputs(w: EscrowWorld, role: Role, count: number, lovelace: bigint, txs: number): Promise<void> {
  for (let t = 0; t < txs; t++) {
    let tx = w.as(role).newTx();
    for (let i = 0; i < count / txs; i++) tx = tx.pay.ToAddress(w.parties[role].address, { lovelace });
    // Everything else leaves the wallet: the last transaction's change goes to the outsider.
    const built = await tx.complete(t === txs - 1 ? { changeAddress: w.parties.outsider.address } : {});
    await w.submit(role, built);
  }
}

describe("single-escrow spends from a wallet of small outputs", () => {
  it("completes, then claims, every escrow alone, each paid once", async () => {
    const w = await createEscrowWorld();
    await smallOutputs(w, "provider", 24, 3_000_000n, 4);
    const failures: string[] = [];
    const escrows = await completed(w, 8, failures);
    w.emulator.awaitSlot(30);
    for (const escrow of escrows) {
      const before = await w.balance("provider", w.ntxUnit);
      try {
        await w.submit("provider", await buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: [escrow], now: w.emulator.now() }));
        expect(await w.balance("provider", w.ntxUnit)).toBe(before + escrow.datum.amount);
      } catch (error) {
        failures.push(`claim ${escrow.utxo.txHash.slice(0, 8)}: ${(error as Error).message.slice(0, 160)}`);
      }
      w.emulator.awaitBlock(1);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it("disputes every escrow alone from the requester's small outputs", async () => {
    const w = await createEscrowWorld();
    const failures: string[] = [];
    const escrows = await completed(w, 6, failures, 3_600_000);
    await smallOutputs(w, "requester", 24, 3_000_000n, 4);
    for (const escrow of escrows) {
      try {
        const txHash = await w.submit("requester", await buildDisputeTx(w.as("requester"), { deployment: w.deployment, escrow, now: w.emulator.now() }));
        expect((await getEscrowUtxo(w.lucid, w.script, { txHash, outputIndex: 0 })).datum.state.kind).toBe("disputed");
      } catch (error) {
        failures.push(`dispute ${escrow.utxo.txHash.slice(0, 8)}: ${(error as Error).message.slice(0, 160)}`);
      }
      w.emulator.awaitBlock(1);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
