import { calculateMinLovelaceFromUTxO, credentialToAddress } from "@lucid-evolution/lucid";
import type { LucidEvolution, UTxO } from "@lucid-evolution/lucid";
import { encodeEscrowDatum, payoutTag, withState } from "./datum.js";
import { NtxError } from "./errors.js";
import type { EscrowUtxo } from "./escrow-utxos.js";

/**
 * The lovelace an escrow output must hold so that every later output made from its value is valid: the
 * continuing output of Complete (Completed{resultHash, completedAt}: the largest datum) and of Dispute keep the
 * escrow's value exactly, and a settlement returns all of its lovelace to the requester with a tagged datum. An
 * escrow locked with only the Locked datum's min-ADA passes the lock, then Complete cannot be built, the job's
 * work is lost and the buyer refunds after the deadline: a provider checks this before running anything.
 */
export function minLovelaceOfLaterStates(lucid: LucidEvolution, escrow: EscrowUtxo): bigint {
  const params = lucid.config().protocolParameters;
  const network = lucid.config().network;
  if (!params || !network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no protocol parameters or network");
  const perByte = params.coinsPerUtxoByte;
  const { datum, utxo } = escrow;
  // completedAt is at most the deadline (Complete's validity ends by it): the widest integer it can be.
  const later = [
    withState(datum, { kind: "completed", resultHash: "ff".repeat(32), completedAt: datum.deadline }),
    withState(datum, { kind: "disputed" }),
  ].map((d): UTxO => ({ ...utxo, datum: encodeEscrowDatum(d), datumHash: undefined }));
  const requester: UTxO = {
    ...utxo,
    address: credentialToAddress(network, { type: "Key", hash: datum.requester }),
    datum: payoutTag(utxo),
    datumHash: undefined,
    scriptRef: undefined,
  };
  return [...later, requester].reduce((max, u) => {
    const need = calculateMinLovelaceFromUTxO(perByte, u);
    return need > max ? need : max;
  }, 0n);
}
