import { credentialToAddress } from "@lucid-evolution/lucid";
import type { Assets, LucidEvolution, OutRef, TxBuilder, UTxO } from "@lucid-evolution/lucid";
import { BatchRedeemer, EscrowRedeemer, payoutTag } from "../datum.js";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import { ntxUnit } from "../ntx.js";
import { PAYOUT_OUTPUT_ADA, pickWalletInputs, withWalletInputs, type EscrowDeployment } from "./common.js";

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
 * requester, both tagged with the escrow's out-ref, and the wallet inputs that pay for it (see pickWalletInputs): build
 * with `complete({ coinSelection: false })`. Returns the builder and how many outputs were added.
 */
export async function addSettlement(
  lucid: LucidEvolution,
  tx: TxBuilder,
  deployment: EscrowDeployment,
  escrow: EscrowUtxo,
  kind: SettleKind,
  providerShare: bigint,
  firstOutput: number,
): Promise<{ tx: TxBuilder; outputs: number }> {
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
  let next = (await withWalletInputs(lucid, tx, { lovelace: paysProvider ? PAYOUT_OUTPUT_ADA : 0n })).collectFrom([escrow.utxo], { kind: "self", makeRedeemer: redeemer });
  if (paysProvider) next = next.pay.ToAddressWithData(escrow.datum.payout, tag, { [unit]: providerShare });
  const back: Assets = { lovelace: escrow.utxo.assets.lovelace ?? 0n };
  if (amount - providerShare > 0n) back[unit] = amount - providerShare;
  next = next.pay.ToAddressWithData(requesterAddress(lucid, escrow.datum.requester), tag, back);
  return { tx: next, outputs: paysProvider ? 2 : 1 };
}

/** Ledger order of inputs: by transaction id (bytes, i.e. lowercase hex), then output index. */
export function byInputOrder(a: OutRef, b: OutRef): number {
  return a.txHash < b.txHash ? -1 : a.txHash > b.txHash ? 1 : a.outputIndex - b.outputIndex;
}

/**
 * Spends `escrows` through the batch run (one withdrawal of 0 from the script's stake credential) and adds the
 * grouped payouts the run expects, from output 0 on: walking the escrows in ledger input order, a new payout
 * address opens a provider output (the NTX of the whole run of escrows with that address) and a new requester opens
 * a requester output (all their lovelace), provider first. Mirrors batchSettles in contracts/escrow.ts. The wallet's
 * fee inputs are added too, so build the result with `complete({ coinSelection: false })`.
 */
export async function addBatchSettlement(
  lucid: LucidEvolution,
  tx: TxBuilder,
  deployment: EscrowDeployment,
  escrows: EscrowUtxo[],
  mode: "claim" | "accept",
): Promise<TxBuilder> {
  const unit = ntxUnit(deployment.script.ntx);
  const sorted = [...escrows].sort((a, b) => byInputOrder(a.utxo, b.utxo));
  const outputs: Array<{ address: string; assets: Assets }> = [];
  let provider: { payout: string; out: { address: string; assets: Assets } } | undefined;
  let requester: { key: string; out: { address: string; assets: Assets } } | undefined;
  let providerOutputs = 0;
  for (const escrow of sorted) {
    if (!escrow.funded) throw new NtxError("ESCROW_UNFUNDED", "the escrow does not hold its NTX amount");
    const { payout, requester: key, amount } = escrow.datum;
    if (provider?.payout === payout) provider.out.assets[unit] = (provider.out.assets[unit] ?? 0n) + amount;
    else {
      provider = { payout, out: { address: payout, assets: { [unit]: amount } } };
      outputs.push(provider.out);
      providerOutputs++;
    }
    const lovelace = escrow.utxo.assets.lovelace ?? 0n;
    if (requester?.key === key) requester.out.assets.lovelace! += lovelace;
    else {
      requester = { key, out: { address: requesterAddress(lucid, key), assets: { lovelace } } };
      outputs.push(requester.out);
    }
  }
  // Fixed before the build, so every input index is known: the redeemers are fixed and Lucid evaluates once.
  const fees = await pickWalletInputs(lucid, { lovelace: PAYOUT_OUTPUT_ADA * BigInt(providerOutputs) });
  const order = [...sorted.map((e) => e.utxo), ...fees].sort(byInputOrder);
  const indexOf = new Map(order.map((u, i) => [`${u.txHash}#${u.outputIndex}`, BigInt(i)]));
  let next = tx.collectFrom(fees);
  for (const e of sorted) next = next.collectFrom([e.utxo], EscrowRedeemer.batch(indexOf.get(`${e.utxo.txHash}#${e.utxo.outputIndex}`)!));
  // An output owed 0 NTX still holds its place (the run takes it from the cursor); it carries only min-ADA.
  for (const out of outputs) next = next.pay.ToAddress(out.address, Object.fromEntries(Object.entries(out.assets).filter(([, q]) => q > 0n)));
  next = deployment.batchReferenceUtxo ? next.readFrom([deployment.batchReferenceUtxo]) : next.attach.WithdrawalValidator(deployment.script.batch.script);
  return next.withdraw(deployment.script.rewardAddress, 0n, mode === "claim" ? BatchRedeemer.claim() : BatchRedeemer.accept());
}
