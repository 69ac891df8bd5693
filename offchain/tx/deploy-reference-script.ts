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
}

export function unspendableAddress(lucid: LucidEvolution): string {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return validatorToAddress(network, scriptFromNative({ type: "before", slot: 0 }));
}

/** Puts the escrow script in a reference-script UTxO at output 0. */
export async function buildDeployReferenceScriptTx(lucid: LucidEvolution, params: DeployReferenceScriptParams): Promise<TxSignBuilder> {
  const holdAt = params.holdAt ?? unspendableAddress(lucid);
  return completeTx("deploy reference script", () =>
    lucid.newTx().pay.ToAddressWithData(holdAt, undefined, {}, params.script.script).complete(),
  );
}

/** The deployment a confirmed deploy transaction created, checked to carry the script. */
export async function loadDeployment(lucid: LucidEvolution, script: EscrowScript, outRef: OutRef): Promise<EscrowDeployment> {
  const [utxo] = await lucid.utxosByOutRef([outRef]);
  if (!utxo) throw new NtxError("REFERENCE_SCRIPT_NOT_FOUND", `no reference script UTxO at ${outRef.txHash}#${outRef.outputIndex}`);
  const deployment = { script, referenceUtxo: utxo };
  requireDeployment(deployment);
  return deployment;
}
