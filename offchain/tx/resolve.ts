import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { completeTx, payLedgerMinimumFee, referenceScriptBytes, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";
import { addSettlement } from "./settle.js";

export interface ResolveParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
  /** NTX the provider gets (0..amount); the requester gets the rest and the min-ADA. */
  providerShare: bigint;
}

/** The arbiter settles a Disputed escrow by splitting its NTX. */
export async function buildResolveTx(lucid: LucidEvolution, params: ResolveParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  requireState(escrow, "disputed", "resolve");
  const arbiter = escrow.datum.arbiter;
  if (arbiter === null) throw new NtxError("NO_ARBITER", "this escrow names no arbiter");
  const { tx } = await addSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrow, "resolve", params.providerShare, 0);
  const built = await completeTx("resolve", () => tx.addSignerKey(arbiter).complete({ coinSelection: false }));
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
