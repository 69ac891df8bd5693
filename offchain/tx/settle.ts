import { credentialToAddress } from "@lucid-evolution/lucid";
import type { Assets, LucidEvolution, TxBuilder } from "@lucid-evolution/lucid";
import { EscrowRedeemer, payoutTag } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { ntxUnit } from "../ntx.js";
import type { EscrowDeployment } from "./common.js";

export type SettleKind = "accept" | "claim" | "resolve";

/**
 * Where the requester's part goes: the enterprise address of the requester's key. The validator only checks the
 * payment credential, so this is one valid choice; it is the one that needs nothing but the datum.
 */
export function requesterAddress(lucid: LucidEvolution, requester: string): string {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return credentialToAddress(network, { type: "Key", hash: requester });
}

/**
 * Spends one escrow and adds its settlement outputs at `firstOutput` onwards: the provider's share of NTX to the
 * payout address (skipped when the share is 0) and the rest of the NTX plus all the escrow's lovelace to the
 * requester, both tagged with the escrow's out-ref. Returns the builder and how many outputs were added.
 */
export function addSettlement(
  lucid: LucidEvolution,
  tx: TxBuilder,
  deployment: EscrowDeployment,
  escrow: EscrowUtxo,
  kind: SettleKind,
  providerShare: bigint,
  firstOutput: number,
): { tx: TxBuilder; outputs: number } {
  const unit = ntxUnit(deployment.script.ntx);
  const amount = escrow.datum.amount;
  if (providerShare < 0n || providerShare > amount) {
    throw new NtxError("INVALID_SPLIT", `provider share ${providerShare} is outside 0..${amount}`);
  }
  if (!escrow.funded) throw new NtxError("ESCROW_UNFUNDED", "the escrow does not hold its NTX amount");
  const tag = { kind: "inline" as const, value: payoutTag(escrow.utxo) };
  const paysProvider = providerShare > 0n;
  const providerOut = firstOutput;
  const requesterOut = paysProvider ? firstOutput + 1 : firstOutput;
  const redeemer = (inputIndex: bigint) => {
    switch (kind) {
      case "accept":
        return EscrowRedeemer.accept(inputIndex, providerOut, requesterOut);
      case "claim":
        return EscrowRedeemer.claim(inputIndex, providerOut, requesterOut);
      case "resolve":
        return EscrowRedeemer.resolve(inputIndex, providerOut, requesterOut, providerShare);
    }
  };
  let next = tx.collectFrom([escrow.utxo], { kind: "self", makeRedeemer: redeemer });
  if (paysProvider) next = next.pay.ToAddressWithData(escrow.datum.payout, tag, { [unit]: providerShare });
  const back: Assets = { lovelace: escrow.utxo.assets.lovelace ?? 0n };
  if (amount - providerShare > 0n) back[unit] = amount - providerShare;
  next = next.pay.ToAddressWithData(requesterAddress(lucid, escrow.datum.requester), tag, back);
  return { tx: next, outputs: paysProvider ? 2 : 1 };
}
