/*
 * buildLeaseCloseTx(lucid, LeaseCloseParams) -> Promise<TxSignBuilder>
 *   The buyer ends the lease now: the provider is paid what accrues up to the transaction's upper bound (`now` +
 *   `validForMs`, at most LEASE_MAX_CLOSE_WINDOW_MS), the buyer gets the rest of the asset and all the lovelace.
 * buildLeaseSettleTx(lucid, LeaseSettleParams) -> Promise<TxSignBuilder>
 *   After end, anyone (no signature) settles both sides: the provider gets what accrued up to end.
 * Both pay into outputs 0 (provider, skipped when owed nothing) and 1 (buyer) tagged with the lease's out-ref.
 */
import type { Assets, LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { payoutTag } from "../datum.js";
import { LEASE_MAX_CLOSE_WINDOW_MS, LeaseRedeemer, leaseOwed } from "../lease-datum.js";
import type { LeaseUtxo } from "../lease-utxos.js";
import { NtxError } from "../errors.js";
import { ntxUnit } from "../ntx.js";
import { DEFAULT_TTL_MS, PAYOUT_OUTPUT_ADA, onChainTime, walletKeyHash, withWalletInputs } from "./common.js";
import { completeLeaseTx, requireLease, withLeaseScript, type LeaseDeployment } from "./lease-common.js";
import { requesterAddress } from "./settle.js";

export interface LeaseCloseParams {
  deployment: LeaseDeployment;
  lease: LeaseUtxo;
  now?: number;
  /** Validity interval length (default 2 minutes, at most LEASE_MAX_CLOSE_WINDOW_MS): the provider is paid to its end. */
  validForMs?: number;
}

export interface LeaseSettleParams {
  deployment: LeaseDeployment;
  lease: LeaseUtxo;
  now?: number;
}

export const LEASE_CLOSE_TTL_MS = 2 * 60_000;

async function payouts(lucid: LucidEvolution, deployment: LeaseDeployment, lease: LeaseUtxo, owed: bigint, redeemer: (i: bigint, p: number, b: number) => string) {
  const unit = ntxUnit(lease.datum.asset);
  const tag = { kind: "inline" as const, value: payoutTag(lease.utxo) };
  const providerOut = 0;
  const buyerOut = owed > 0n ? 1 : 0;
  const wallet = await withWalletInputs(lucid, lucid.newTx(), { lovelace: owed > 0n ? PAYOUT_OUTPUT_ADA : 0n });
  let tx = withLeaseScript(wallet, deployment).collectFrom([lease.utxo], { kind: "self", makeRedeemer: (i) => redeemer(i, providerOut, buyerOut) });
  if (owed > 0n) tx = tx.pay.ToAddressWithData(lease.datum.provider, tag, { [unit]: owed });
  const back: Assets = { lovelace: lease.lovelace };
  if (lease.balance - owed > 0n) back[unit] = lease.balance - owed;
  return tx.pay.ToAddressWithData(requesterAddress(lucid, lease.datum.buyer), tag, back);
}

export async function buildLeaseCloseTx(lucid: LucidEvolution, params: LeaseCloseParams): Promise<TxSignBuilder> {
  const { deployment, lease } = params;
  requireLease(deployment, lease);
  const window = params.validForMs ?? LEASE_CLOSE_TTL_MS;
  if (window <= 0 || window > LEASE_MAX_CLOSE_WINDOW_MS) throw new NtxError("INVALID_CLOSE", `the validity window must be 1..${LEASE_MAX_CLOSE_WINDOW_MS} ms`);
  if ((await walletKeyHash(lucid)) !== lease.datum.buyer) throw new NtxError("NOT_THE_BUYER", "only the lease's buyer closes it");
  const now = params.now ?? Date.now();
  const lower = onChainTime(lucid, now);
  const validTo = lower + window;
  const owed = leaseOwed(lease.datum, lease.balance, onChainTime(lucid, validTo));
  const tx = (await payouts(lucid, deployment, lease, owed, LeaseRedeemer.close)).addSignerKey(lease.datum.buyer).validFrom(lower).validTo(validTo);
  return completeLeaseTx(lucid, "close lease", tx, deployment, false);
}

export async function buildLeaseSettleTx(lucid: LucidEvolution, params: LeaseSettleParams): Promise<TxSignBuilder> {
  const { deployment, lease } = params;
  requireLease(deployment, lease);
  const now = params.now ?? Date.now();
  const lower = onChainTime(lucid, now);
  if (lower < lease.datum.end) {
    throw new NtxError("LEASE_NOT_ENDED", "the lease has not ended: the buyer may close it, or wait for its end", { retryable: true, details: { end: lease.datum.end } });
  }
  const owed = leaseOwed(lease.datum, lease.balance, lease.datum.end);
  const tx = (await payouts(lucid, deployment, lease, owed, LeaseRedeemer.settle)).validFrom(lower).validTo(now + DEFAULT_TTL_MS);
  return completeLeaseTx(lucid, "settle lease", tx, deployment, false);
}
