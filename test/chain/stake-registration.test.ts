import { CML } from "@lucid-evolution/lucid";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildClaimTx, buildRegisterBatchScriptTx, readEscrowUtxos, submitTx } from "../../offchain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { devnetClaimWorld, payClaimableEscrows, type DevnetClaimWorld } from "../helpers/devnet-escrows.js";

/*
 * The devnet keeps stake registrations as a node does, so a batch (which withdraws 0 from the batch script's stake
 * credential) fails there exactly as on a real network when the credential is not registered, and a registration
 * pays the key deposit. Transactions are built by Lucid and, for the attacks, edited by hand before signing.
 */

// A chain per test: the batch credential depends only on the NTX asset, so one test's registration is the next's.
let devnet: TestDevnet;
beforeEach(async () => {
  devnet = await startTestDevnet({ blockTimeMs: 0 });
}, 60_000);
afterEach(async () => devnet?.stop());

const outRefs = async (w: DevnetClaimWorld) => new Set((await readEscrowUtxos(w.lucid, w.deployment.script)).escrows.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`));

/** Submits and seals a block; the transaction must be confirmed. */
async function submitConfirmed(w: DevnetClaimWorld, tx: Parameters<typeof submitTx>[1]): Promise<string> {
  const hash = await submitTx(w.lucid, tx, { awaitConfirmation: false });
  await devnet.block();
  await w.chain.awaitConfirmation(hash);
  return hash;
}

/** The transaction with its change (last output) raised by `extra` lovelace and the fee left as it was. */
function withMoreChange(cbor: string, extra: bigint): string {
  const tx = CML.Transaction.from_cbor_hex(cbor);
  const body = tx.body();
  const outputs = body.outputs();
  const last = outputs.get(outputs.len() - 1);
  const value = last.amount();
  const raised = CML.TransactionOutput.new(last.address(), CML.Value.new(value.coin() + extra, value.multi_asset()), last.datum(), last.script_ref());
  const rebuilt = CML.TransactionOutputList.new();
  for (let i = 0; i < outputs.len() - 1; i++) rebuilt.add(outputs.get(i));
  rebuilt.add(raised);
  const next = CML.TransactionBody.new(body.inputs(), rebuilt, body.fee());
  const ttl = body.ttl();
  if (ttl !== undefined) next.set_ttl(ttl);
  const certs = body.certs();
  if (certs) next.set_certs(certs);
  return CML.Transaction.new(next, tx.witness_set(), true, tx.auxiliary_data()).to_cbor_hex();
}

describe("stake registration on the devnet", () => {
  it("a batch claim from an unregistered batch credential is refused (stake_credential) and spends nothing; once registered, it goes through", async () => {
    const w = await devnetClaimWorld(devnet, { registerStake: false });
    const escrows = await payClaimableEscrows(devnet, w, 3);
    // Lucid's local evaluation passes: the scripts cannot see the registration, only the ledger can.
    const claim = await buildClaimTx(w.lucid, { deployment: w.deployment, escrows });
    await expect(submitTx(w.lucid, claim, { awaitConfirmation: false })).rejects.toThrow(/stake_credential.*not registered/);
    const still = await outRefs(w);
    for (const e of escrows) expect(still.has(`${e.utxo.txHash}#${e.utxo.outputIndex}`)).toBe(true);

    await submitConfirmed(w, await buildRegisterBatchScriptTx(w.lucid, { script: w.deployment.script }));
    await submitConfirmed(w, await buildClaimTx(w.lucid, { deployment: w.deployment, escrows }));
    const left = await outRefs(w);
    for (const e of escrows) expect(left.has(`${e.utxo.txHash}#${e.utxo.outputIndex}`)).toBe(false);
  }, 300_000);

  it("a credential registered twice is refused, and so is a registration that keeps its deposit", async () => {
    const w = await devnetClaimWorld(devnet, { registerStake: false });
    const register = await buildRegisterBatchScriptTx(w.lucid, { script: w.deployment.script });
    // The same registration with the deposit handed back to the change: the ledger would create 2 ADA from nothing.
    const keptDeposit = w.lucid.fromTx(withMoreChange(register.toCBOR(), w.lucid.config().protocolParameters!.keyDeposit));
    await expect(submitTx(w.lucid, keptDeposit, { awaitConfirmation: false })).rejects.toThrow(/value_not_conserved/);
    await submitConfirmed(w, register);
    const again = await buildRegisterBatchScriptTx(w.lucid, { script: w.deployment.script });
    await expect(submitTx(w.lucid, again, { awaitConfirmation: false })).rejects.toThrow(/stake_credential.*already registered/);
  }, 300_000);
});
