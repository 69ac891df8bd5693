import { scriptFromNative, validatorToAddress } from "@lucid-evolution/lucid";
import type { LucidEvolution, OutRef, TxSignBuilder } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowScript } from "../script.js";
import { completeTx, requireDeployment, type EscrowDeployment } from "./common.js";

export interface DeployReferenceScriptParams {
  script: EscrowScript;
  /**
   * Where the reference UTxO lives. Defaults to the address of a native script nobody can satisfy
   * (`before slot 0`), so the script can never be spent away from under the escrows, nor picked by coin selection.
   */
  holdAt?: string;
  /**
   * Also register the script's stake credential in the same transaction (default true), which batch settlements
   * need (they withdraw 0 from it). Pass false on a network where it is already registered: the ledger refuses a
   * second registration. The legacy registration certificate is used, so no script runs and anyone may pay it.
   */
  registerStake?: boolean;
}

export function unspendableAddress(lucid: LucidEvolution): string {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return validatorToAddress(network, scriptFromNative({ type: "before", slot: 0 }));
}

/**
 * Puts the escrow script in a reference-script UTxO at output 0 and the batch script in one at output 1, and (by
 * default) registers the batch script's stake credential.
 */
export async function buildDeployReferenceScriptTx(lucid: LucidEvolution, params: DeployReferenceScriptParams): Promise<TxSignBuilder> {
  const holdAt = params.holdAt ?? unspendableAddress(lucid);
  return completeTx("deploy reference script", () => {
    const tx = lucid
      .newTx()
      .pay.ToAddressWithData(holdAt, undefined, {}, params.script.script)
      .pay.ToAddressWithData(holdAt, undefined, {}, params.script.batch.script);
    return (params.registerStake ?? true ? tx.register.Stake(params.script.rewardAddress) : tx).complete();
  });
}

/**
 * Registers the batch script's stake credential alone (for a network whose reference script was deployed before
 * batches existed). The key deposit (2 ADA on mainnet) stays locked: the script refuses every certificate, so
 * nobody can deregister it and break batches.
 */
export async function buildRegisterBatchScriptTx(lucid: LucidEvolution, params: { script: EscrowScript }): Promise<TxSignBuilder> {
  return completeTx("register batch script", () => lucid.newTx().register.Stake(params.script.rewardAddress).complete());
}

/**
 * The deployment a confirmed deploy transaction created, checked to carry the script; the batch script's reference
 * UTxO is the next output of the same transaction when it carries that script (older deployments have none).
 */
export async function loadDeployment(lucid: LucidEvolution, script: EscrowScript, outRef: OutRef): Promise<EscrowDeployment> {
  const batchRef = { txHash: outRef.txHash, outputIndex: outRef.outputIndex + 1 };
  const found = await lucid.utxosByOutRef([outRef, batchRef]);
  const utxo = found.find((u) => u.outputIndex === outRef.outputIndex);
  if (!utxo) throw new NtxError("REFERENCE_SCRIPT_NOT_FOUND", `no reference script UTxO at ${outRef.txHash}#${outRef.outputIndex}`);
  const batchUtxo = found.find((u) => u.outputIndex === batchRef.outputIndex && u.scriptRef?.script === script.batch.script.script);
  const deployment: EscrowDeployment = batchUtxo ? { script, referenceUtxo: utxo, batchReferenceUtxo: batchUtxo } : { script, referenceUtxo: utxo };
  requireDeployment(deployment);
  return deployment;
}
