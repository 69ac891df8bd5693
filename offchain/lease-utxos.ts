import { getAddressDetails } from "@lucid-evolution/lucid";
import type { LucidEvolution, OutRef, UTxO } from "@lucid-evolution/lucid";
import { decodeLeaseDatum, leaseOwed, type LeaseDatum } from "./lease-datum.js";
import type { LeaseScript } from "./lease-script.js";
import { NtxError, isNtxError } from "./errors.js";
import { readOneUtxo } from "./escrow-utxos.js";
import { ntxUnit, type NtxAsset } from "./ntx.js";

/*
 * Reading leases at the script address, as plain data:
 *   readLeases(lucid, script, { provider?, buyer?, asset?, now? }) -> { leases: LeaseView[], skipped }
 *   leaseStatus(lease, now) -> LeaseStatus     (pure: what has accrued, what is left, how long it lasts)
 */

/** A lease UTxO with its datum decoded and checked. */
export interface LeaseUtxo {
  utxo: UTxO;
  datum: LeaseDatum;
  /** Base units of the datum's asset the UTxO holds. */
  balance: bigint;
  lovelace: bigint;
  /** Holds only lovelace and the datum's asset: the only shape a claim can continue (see contracts/lease.ts). */
  wellFormed: boolean;
}

/** What a lease stands at, at POSIX ms `at`. */
export interface LeaseStatus {
  at: number;
  /** What a claim (or close) at `at` pays the provider: accrued since lastClaim, capped at end and the balance. */
  accrued: bigint;
  /** Balance left for the buyer after that. */
  remaining: bigint;
  /** POSIX ms the balance pays for: lastClaim + balance / rate, at most end. */
  paidUntil: number;
  /** ms from `at` until paidUntil (0 when past). */
  timeLeftMs: number;
  /** POSIX ms the provider warns the buyer and, with no top-up, stops at paidUntil: paidUntil − notice. */
  noticeAt: number;
  /** `at` is at or past end: anyone may settle. */
  ended: boolean;
  /** The balance is fully accrued (nothing left to serve). */
  dry: boolean;
}

export interface LeaseView extends LeaseUtxo, LeaseStatus {
  outRef: string;
}

export function leaseStatus(lease: Pick<LeaseUtxo, "datum" | "balance">, at: number): LeaseStatus {
  const { datum, balance } = lease;
  const accrued = leaseOwed(datum, balance, at);
  const coveredMs = (balance * 1000n) / datum.rate;
  const paidUntil = Math.min(datum.end, datum.lastClaim + Number(coveredMs > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : coveredMs));
  return {
    at,
    accrued,
    remaining: balance - accrued,
    paidUntil,
    timeLeftMs: Math.max(0, paidUntil - at),
    noticeAt: paidUntil - datum.notice,
    ended: at >= datum.end,
    dry: accrued >= balance,
  };
}

/** Decodes one UTxO as a lease of `script`; throws NtxError (NOT_A_LEASE / INVALID_LEASE) otherwise. */
export function decodeLeaseUtxo(utxo: UTxO, script: LeaseScript): LeaseUtxo {
  if (utxo.address !== script.address) throw new NtxError("NOT_A_LEASE", `UTxO ${utxo.txHash}#${utxo.outputIndex} is not at the lease address`);
  if (!utxo.datum || utxo.datumHash) throw new NtxError("NOT_A_LEASE", `UTxO ${utxo.txHash}#${utxo.outputIndex} has no inline datum`);
  const datum = decodeLeaseDatum(utxo.datum, script.network);
  const unit = ntxUnit(datum.asset);
  const units = Object.keys(utxo.assets).filter((u) => u !== "lovelace");
  return {
    utxo,
    datum,
    balance: utxo.assets[unit] ?? 0n,
    lovelace: utxo.assets.lovelace ?? 0n,
    wellFormed: units.every((u) => u === unit) && !utxo.scriptRef,
  };
}

export interface LeaseFilter {
  /** Provider's payout address, or any address with the same payment key. */
  provider?: string;
  /** Buyer's payment key hash. */
  buyer?: string;
  /** Only leases paid in this asset (a provider passes its network's NTX: any other asset is worth nothing to it). */
  asset?: NtxAsset;
  /** POSIX ms the status is computed at; defaults to Date.now(). */
  now?: number;
}

function paymentKey(address: string): string | undefined {
  try {
    return getAddressDetails(address).paymentCredential?.hash;
  } catch {
    return undefined;
  }
}

/** Every lease at the script address that matches `filter`, with its status; undecodable UTxOs go to `skipped`. */
export async function readLeases(
  lucid: LucidEvolution,
  script: LeaseScript,
  filter: LeaseFilter = {},
): Promise<{ leases: LeaseView[]; skipped: Array<{ outRef: OutRef; reason: string }> }> {
  let utxos: UTxO[];
  try {
    utxos = await lucid.utxosAt(script.address);
  } catch (cause) {
    throw new NtxError("CHAIN_UNAVAILABLE", `cannot read UTxOs at ${script.address}`, { retryable: true, cause });
  }
  const now = filter.now ?? Date.now();
  const providerKey = filter.provider === undefined ? undefined : paymentKey(filter.provider);
  if (filter.provider !== undefined && !providerKey) throw new NtxError("INVALID_ADDRESS", `not a key address: ${filter.provider}`);
  const leases: LeaseView[] = [];
  const skipped: Array<{ outRef: OutRef; reason: string }> = [];
  for (const utxo of utxos) {
    let lease: LeaseUtxo;
    try {
      lease = decodeLeaseUtxo(utxo, script);
    } catch (error) {
      if (!isNtxError(error)) throw error;
      skipped.push({ outRef: { txHash: utxo.txHash, outputIndex: utxo.outputIndex }, reason: error.message });
      continue;
    }
    if (providerKey && paymentKey(lease.datum.provider) !== providerKey) continue;
    if (filter.buyer && lease.datum.buyer !== filter.buyer) continue;
    if (filter.asset && (lease.datum.asset.policyId !== filter.asset.policyId || lease.datum.asset.assetName !== filter.asset.assetName)) continue;
    leases.push({ ...lease, ...leaseStatus(lease, now), outRef: `${utxo.txHash}#${utxo.outputIndex}` });
  }
  return { leases, skipped };
}

/** One lease by out-ref; LEASE_NOT_FOUND when it is spent or was never there. */
export async function getLeaseUtxo(lucid: LucidEvolution, script: LeaseScript, outRef: OutRef): Promise<LeaseUtxo> {
  return decodeLeaseUtxo(await readOneUtxo(lucid, outRef, { code: "LEASE_NOT_FOUND", what: "lease" }), script);
}
