import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { DEFAULT_TTL_MS, completeTx, payLedgerMinimumFee, referenceScriptBytes, onChainTime, requireDeployment, requireEscrowOf, requireState, type EscrowDeployment } from "./common.js";
import { addBatchSettlement, addSettlement } from "./settle.js";

/**
 * The most escrows one claim transaction settles: the largest batch that builds within mainnet's limits, measured
 * by `npm run bench:escrow` (batchClaim.maxEscrowsPerClaimTx = 153 on 2026-11-30: each escrow from a different
 * buyer, all paying one provider; 14,833 bytes, 75.4 % of the memory and 40.1 % of the steps limit, fee 1.75 ADA;
 * 154 no longer builds). Its local build took 85 s on the loaded 2-core machine (see docs/DECISIONS.md, "Local
 * evaluation").
 */
export const MAX_CLAIM_BATCH = 153;

export interface ClaimParams {
  deployment: EscrowDeployment;
  /**
   * One escrow (the single-escrow Claim path, with its own pair of tagged outputs), or several claimed in one
   * transaction through the batch run (grouped payouts; needs the script's stake credential registered).
   */
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
  }
  if (escrows.length === 1) {
    const { tx } = await addSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrows[0]!, "claim", escrows[0]!.datum.amount, 0);
    const built = await completeTx("claim", () => tx.validFrom(validFrom).validTo(now + DEFAULT_TTL_MS).complete({ coinSelection: false }));
    return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
  }
  return completeTx(
    "claim",
    async () => {
      const tx = await addBatchSettlement(lucid, lucid.newTx().readFrom([deployment.referenceUtxo]), deployment, escrows, "claim");
      const built = await tx.validFrom(validFrom).validTo(now + DEFAULT_TTL_MS).complete({ coinSelection: false });
      return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo, deployment.batchReferenceUtxo]));
    },
    { rebuildOnEvaluatorFault: true },
  );
}
