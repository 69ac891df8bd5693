import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { completeTx, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";
import { addSettlement } from "./settle.js";

export interface AcceptParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
}

/** The requester accepts a Completed escrow: the provider is paid now, the min-ADA returns to the requester. */
export async function buildAcceptTx(lucid: LucidEvolution, params: AcceptParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  requireState(escrow, "completed", "accept");
  const { tx } = addSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrow, "accept", escrow.datum.amount, 0);
  return completeTx("accept", () => tx.addSignerKey(escrow.datum.requester).complete());
}
