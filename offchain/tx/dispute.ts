import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { EscrowRedeemer, encodeEscrowDatum, withState } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { DEFAULT_TTL_MS, completeTx, payLedgerMinimumFee, referenceScriptBytes, requireDeployment, requireEscrowOf, requireState, withWalletInputs, type EscrowDeployment } from "./common.js";

export interface DisputeParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
  now?: number;
}

/** The requester disputes a Completed escrow inside its challenge window; the arbiter then resolves it. */
export async function buildDisputeTx(lucid: LucidEvolution, params: DisputeParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  requireState(escrow, "completed", "dispute");
  if (escrow.datum.arbiter === null) throw new NtxError("NO_ARBITER", "this escrow names no arbiter: it cannot be disputed");
  const state = escrow.datum.state;
  if (state.kind !== "completed") throw new NtxError("ESCROW_STATE", "not completed");
  const windowEnd = state.completedAt + escrow.datum.challengeWindow;
  const now = params.now ?? Date.now();
  if (now >= windowEnd) throw new NtxError("WINDOW_CLOSED", "the challenge window is over: the provider can claim");
  const datum = encodeEscrowDatum(withState(escrow.datum, { kind: "disputed" }));
  const tx = await withWalletInputs(lucid, lucid.newTx());
  const built = await completeTx("dispute", () =>
    tx
      .readFrom([deployment.referenceUtxo])
      .collectFrom([escrow.utxo], { kind: "self", makeRedeemer: (inputIndex) => EscrowRedeemer.dispute(inputIndex, 0) })
      .pay.ToContract(deployment.script.address, { kind: "inline", value: datum }, escrow.utxo.assets)
      .addSignerKey(escrow.datum.requester)
      .validTo(Math.min(windowEnd, now + DEFAULT_TTL_MS))
      .complete({ coinSelection: false }),
  );
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
