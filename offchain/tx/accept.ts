import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { NtxError } from "../errors.js";
import { completeTx, payLedgerMinimumFee, referenceScriptBytes, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";
import { addBatchSettlement, addSettlement } from "./settle.js";

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
  const { tx } = await addSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrow, "accept", escrow.datum.amount, 0);
  const built = await completeTx("accept", () => tx.addSignerKey(escrow.datum.requester).complete({ coinSelection: false }));
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}

export interface AcceptBatchParams {
  deployment: EscrowDeployment;
  /** Completed escrows of requesters whose keys sign the transaction (normally all the wallet's). */
  escrows: EscrowUtxo[];
}

/** The requester accepts several Completed escrows in one transaction through the batch run (grouped payouts). */
export async function buildAcceptBatchTx(lucid: LucidEvolution, params: AcceptBatchParams): Promise<TxSignBuilder> {
  const { deployment, escrows } = params;
  requireDeployment(deployment);
  if (escrows.length === 0) throw new NtxError("INVALID_ACCEPT", "nothing to accept: no escrows");
  for (const escrow of escrows) {
    requireEscrowOf(deployment, escrow);
    requireState(escrow, "completed", "accept");
  }
  return completeTx("accept", async () => {
    let tx = await addBatchSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrows, "accept");
    for (const requester of new Set(escrows.map((e) => e.datum.requester))) tx = tx.addSignerKey(requester);
    const built = await tx.complete({ coinSelection: false });
    return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo, deployment.batchReferenceUtxo]));
  }, { rebuildOnEvaluatorFault: true });
}
