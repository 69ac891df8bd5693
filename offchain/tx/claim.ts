import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { DEFAULT_TTL_MS, completeTx, onChainTime, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";
import { addSettlement } from "./settle.js";

export interface ClaimParams {
  deployment: EscrowDeployment;
  /** One escrow, or several claimed in one transaction (each gets its own pair of tagged outputs). */
  escrows: EscrowUtxo[];
  now?: number;
}

/**
 * Pays the provider of each Completed escrow whose challenge window is over. No signature is needed (the
 * validator checks where the money goes), so the provider, or anyone on its behalf, can submit it.
 */
export async function buildClaimTx(lucid: LucidEvolution, params: ClaimParams): Promise<TxSignBuilder> {
  const { deployment, escrows } = params;
  requireDeployment(deployment);
  if (escrows.length === 0) throw new NtxError("INVALID_CLAIM", "nothing to claim: no escrows");
  const keys = new Set(escrows.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`));
  if (keys.size !== escrows.length) throw new NtxError("INVALID_CLAIM", "the same escrow is listed twice");
  const now = params.now ?? Date.now();
  // The lower bound as the script will see it (rounded down to its slot) must be past every window.
  const validFrom = onChainTime(lucid, now);
  let tx = lucid.newTx().readFrom([deployment.referenceUtxo]);
  let nextOutput = 0;
  for (const escrow of escrows) {
    requireEscrowOf(deployment, escrow);
    requireState(escrow, "completed", "claim");
    const state = escrow.datum.state;
    if (state.kind === "completed" && validFrom < state.completedAt + escrow.datum.challengeWindow) {
      throw new NtxError("WINDOW_OPEN", `escrow ${escrow.utxo.txHash}#${escrow.utxo.outputIndex}: the challenge window is still open`, {
        retryable: true,
        details: { claimableAt: state.completedAt + escrow.datum.challengeWindow },
      });
    }
    const added = addSettlement(lucid, tx, deployment, escrow, "claim", escrow.datum.amount, nextOutput);
    tx = added.tx;
    nextOutput += added.outputs;
  }
  return completeTx("claim", () => tx.validFrom(validFrom).validTo(now + DEFAULT_TTL_MS).complete());
}
