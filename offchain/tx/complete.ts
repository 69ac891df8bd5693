import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { EscrowRedeemer, encodeEscrowDatum, hash32Schema, withState } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { onChainSignature, verifyCompletionProof } from "../proof.js";
import { completeTx, payLedgerMinimumFee, referenceScriptBytes, onChainTime, requireDeployment, requireEscrowOf, requireState, withWalletInputs, type EscrowDeployment } from "./common.js";

/**
 * Default validity of a Complete transaction. Its upper bound becomes completedAt, which users read as the moment
 * the job completed: the script cannot know when the transaction was included, only that it was inside its
 * validity interval, and the upper bound is the one choice that never starts the challenge window early. With 5
 * minutes users saw completedAt about 5 minutes after the real completion; with 60 seconds it is at most 60 s after
 * it (about 40 s on average on mainnet, a block every 20 s), and a Complete that expires unincluded (about 1 in 20
 * on mainnet) is rebuilt by the provider's next attempt.
 */
export const COMPLETE_TTL_MS = 60_000;

export interface CompleteParams {
  deployment: EscrowDeployment;
  escrow: EscrowUtxo;
  resultHash: string;
  /** The provider's completion proof signature (65 bytes r‖s‖v hex, from signCompletionProof). */
  signature: string;
  /** POSIX ms; defaults to Date.now(). */
  now?: number;
  /**
   * How long the transaction stays valid (default COMPLETE_TTL_MS, 60 s). Its upper bound becomes completedAt, so a
   * shorter validity makes completedAt closer to the real completion and starts the challenge window sooner.
   */
  validForMs?: number;
}

/**
 * Moves a Locked escrow to Completed{resultHash, completedAt} against the provider's proof. completedAt is the
 * transaction's validity upper bound (the latest moment it could have happened), so the challenge window never
 * starts before the completion really did. Anyone holding the proof can submit it; the provider normally does.
 */
export async function buildCompleteTx(lucid: LucidEvolution, params: CompleteParams): Promise<TxSignBuilder> {
  const { deployment, escrow } = params;
  requireDeployment(deployment);
  requireEscrowOf(deployment, escrow);
  requireState(escrow, "locked", "complete");
  if (!hash32Schema.safeParse(params.resultHash).success) throw new NtxError("INVALID_RESULT_HASH", "resultHash must be 32 bytes of lowercase hex");
  const now = params.now ?? Date.now();
  const fields = { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash: params.resultHash };
  if (!verifyCompletionProof(fields, params.signature, escrow.datum.proofKey)) {
    throw new NtxError("INVALID_PROOF", "the completion proof is not signed by this escrow's proof key over this escrow, job and result");
  }
  // The upper bound must still lie in a future slot, and on-chain it must not pass the deadline.
  if (escrow.datum.deadline <= now + 1000) throw new NtxError("DEADLINE_PASSED", "the escrow's deadline has passed: it can only be refunded");
  const validTo = Math.min(escrow.datum.deadline, now + (params.validForMs ?? COMPLETE_TTL_MS));
  const completedAt = onChainTime(lucid, validTo);
  const datum = encodeEscrowDatum(withState(escrow.datum, { kind: "completed", resultHash: params.resultHash, completedAt }));
  const signature = onChainSignature(params.signature);
  const tx = await withWalletInputs(lucid, lucid.newTx());
  const built = await completeTx("complete", () =>
    tx
      .readFrom([deployment.referenceUtxo])
      .collectFrom([escrow.utxo], {
        kind: "self",
        makeRedeemer: (inputIndex) => EscrowRedeemer.complete(inputIndex, 0, signature, params.resultHash),
      })
      .pay.ToContract(deployment.script.address, { kind: "inline", value: datum }, escrow.utxo.assets)
      .validTo(validTo)
      .complete({ coinSelection: false }),
  );
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
