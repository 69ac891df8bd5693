import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { EscrowRedeemer } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { DEFAULT_TTL_MS, completeTx, payLedgerMinimumFee, referenceScriptBytes, onChainTime, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";

export interface RefundParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
  now?: number;
}

/** The requester takes back an escrow that was never completed once its deadline has passed (to its wallet). */
export async function buildRefundTx(lucid: LucidEvolution, params: RefundParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  requireState(escrow, "locked", "refund");
  const now = params.now ?? Date.now();
  const validFrom = onChainTime(lucid, now);
  if (validFrom < escrow.datum.deadline) {
    throw new NtxError("DEADLINE_NOT_REACHED", "the escrow's deadline has not passed yet", {
      retryable: true,
      details: { refundableAt: escrow.datum.deadline },
    });
  }
  const built = await completeTx("refund", () =>
    lucid
      .newTx()
      .readFrom([deployment.referenceUtxo])
      .collectFrom([escrow.utxo], EscrowRedeemer.refund())
      .addSignerKey(escrow.datum.requester)
      .validFrom(validFrom)
      .validTo(now + DEFAULT_TTL_MS)
      .complete(),
  );
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
