/*
 * buildLeaseTopUpTx(lucid, LeaseTopUpParams) -> Promise<TxSignBuilder>
 *   The buyer's wallet adds `add` of the lease's asset and moves end by add / rate (whole seconds), before the lease
 *   ends (a lease past its end is settled, not extended).
 * leaseTopUpEnd(datum, add) -> number   the end a top-up of `add` gives.
 */
import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { LeaseRedeemer, type LeaseDatum } from "../lease-datum.js";
import type { LeaseUtxo } from "../lease-utxos.js";
import { NtxError } from "../errors.js";
import { ntxUnit } from "../ntx.js";
import { DEFAULT_TTL_MS, pickWalletInputs, walletKeyHash } from "./common.js";
import { addContinuing, completeLeaseTx, leaseAssets, requireLease, FILLER_LOVELACE, type LeaseDeployment } from "./lease-common.js";

export interface LeaseTopUpParams {
  deployment: LeaseDeployment;
  lease: LeaseUtxo;
  /** Base units of the lease's asset to add. */
  add: bigint;
  now?: number;
}

/** The end a top-up of `add` gives: end + whole seconds of `add` at the lease's rate. */
export function leaseTopUpEnd(datum: Pick<LeaseDatum, "rate" | "end">, add: bigint): number {
  return datum.end + Number(add / datum.rate) * 1000;
}

export async function buildLeaseTopUpTx(lucid: LucidEvolution, params: LeaseTopUpParams): Promise<TxSignBuilder> {
  const { deployment, lease, add } = params;
  requireLease(deployment, lease);
  const { datum } = lease;
  const seconds = add / datum.rate;
  if (add <= 0n || seconds === 0n) throw new NtxError("INVALID_TOPUP", `adding ${add} buys less than a second at ${datum.rate} a second`);
  const now = params.now ?? Date.now();
  const validTo = Math.min(now + DEFAULT_TTL_MS, datum.end);
  if (validTo <= now) throw new NtxError("LEASE_ENDED", "the lease has ended: settle it and open a new one");
  if ((await walletKeyHash(lucid)) !== datum.buyer) throw new NtxError("NOT_THE_BUYER", "only the lease's buyer tops it up");
  const newEnd = leaseTopUpEnd(datum, add);
  const inputs = await pickWalletInputs(lucid, { [ntxUnit(datum.asset)]: add, lovelace: FILLER_LOVELACE });
  const tx = await addContinuing(
    lucid,
    lucid.newTx(),
    deployment,
    [{ lease, redeemer: (i) => LeaseRedeemer.topUp(i, newEnd), datum: { ...datum, end: newEnd }, assets: leaseAssets(datum, lease.lovelace, lease.balance + add) }],
    inputs,
  );
  return completeLeaseTx(lucid, "top up lease", tx.addSignerKey(datum.buyer).validTo(validTo), deployment, false);
}
