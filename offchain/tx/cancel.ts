import { getAddressDetails } from "@lucid-evolution/lucid";
import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { EscrowRedeemer } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { completeTx, payLedgerMinimumFee, referenceScriptBytes, requireDeployment, requireEscrowOf, type EscrowDeployment } from "./common.js";

export interface CancelParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
}

/**
 * Requester and provider agree to unwind an escrow in any state. The funds go to the building wallet's change
 * (normally the requester's); the provider co-signs the transaction (partial signing), so it sees where they go.
 */
export async function buildCancelTx(lucid: LucidEvolution, params: CancelParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  const provider = getAddressDetails(escrow.datum.payout).paymentCredential;
  if (provider?.type !== "Key") throw new NtxError("CANCEL_UNSUPPORTED", "the payout address is a script: there is no provider key to co-sign");
  const built = await completeTx("cancel", () =>
    lucid
      .newTx()
      .readFrom([deployment.referenceUtxo])
      .collectFrom([escrow.utxo], EscrowRedeemer.cancel())
      .addSignerKey(escrow.datum.requester)
      .addSignerKey(provider.hash)
      .complete(),
  );
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
