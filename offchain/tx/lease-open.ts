/*
 * buildLeaseOpenTx(lucid, LeaseOpenParams) -> Promise<TxSignBuilder>
 *   The buyer's wallet locks `deposit` of `asset` (or enough for `durationMs`) at the lease address. Accrual starts at
 *   the transaction's validity upper bound (lastClaim), so the provider is never paid for time before the lease
 *   surely exists; end = lastClaim + deposit / rate, rounded down to a whole second.
 */
import { calculateMinLovelaceFromUTxO } from "@lucid-evolution/lucid";
import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { encodeLeaseDatum, type LeaseDatum } from "../lease-datum.js";
import type { LeaseScript } from "../lease-script.js";
import { NtxError } from "../errors.js";
import type { NtxAsset } from "../ntx.js";
import { completeTx, onChainTime, walletKeyHash } from "./common.js";
import { leaseAssets } from "./lease-common.js";

export interface LeaseOpenParams {
  script: LeaseScript;
  /** Provider's payout address (must have a payment key: it signs claims). */
  provider: string;
  /** The asset that pays: the network's NTX. */
  asset: NtxAsset;
  /** The service job the lease pays for (32-byte hex job hash): the provider runs only that job on it. */
  jobHash: string;
  /** Base units per second. */
  rate: bigint;
  /** What to lock; or give `durationMs` and the deposit is rate × duration. */
  deposit?: bigint;
  durationMs?: number;
  /** ms of warning before the balance runs out (the provider's service stops at the end of it). */
  notice: number;
  /** POSIX ms; defaults to Date.now(). */
  now?: number;
  /** How long the signed transaction stays valid (default 5 minutes): accrual starts when it expires. */
  validForMs?: number;
  /** Defaults to the wallet's payment key hash. */
  buyer?: string;
}

export const LEASE_OPEN_TTL_MS = 5 * 60_000;

export async function buildLeaseOpenTx(lucid: LucidEvolution, params: LeaseOpenParams): Promise<TxSignBuilder> {
  if (params.rate <= 0n) throw new NtxError("INVALID_LEASE", "rate must be positive");
  if ((params.deposit === undefined) === (params.durationMs === undefined)) throw new NtxError("INVALID_LEASE", "give either deposit or durationMs");
  const deposit = params.deposit ?? (params.rate * BigInt(Math.ceil(params.durationMs!))) / 1000n;
  if (deposit <= 0n) throw new NtxError("INVALID_LEASE", "nothing to lock");
  const now = params.now ?? Date.now();
  const validTo = now + (params.validForMs ?? LEASE_OPEN_TTL_MS);
  const lastClaim = onChainTime(lucid, validTo);
  const coveredSeconds = deposit / params.rate;
  const datum: LeaseDatum = {
    buyer: params.buyer ?? (await walletKeyHash(lucid)),
    provider: params.provider,
    asset: params.asset,
    rate: params.rate,
    lastClaim,
    end: lastClaim + Number(coveredSeconds) * 1000,
    notice: params.notice,
    jobHash: params.jobHash,
  };
  if (datum.end <= lastClaim) throw new NtxError("INVALID_LEASE", "the deposit pays for less than a second");
  const cbor = encodeLeaseDatum(datum);
  const coinsPerUtxoByte = lucid.config().protocolParameters?.coinsPerUtxoByte;
  if (coinsPerUtxoByte === undefined) throw new NtxError("PROTOCOL_PARAMETERS_MISSING", "Lucid has no protocol parameters");
  const lovelace = calculateMinLovelaceFromUTxO(coinsPerUtxoByte, {
    txHash: "00".repeat(32),
    outputIndex: 0,
    address: params.script.address,
    assets: leaseAssets(datum, 10_000_000n, deposit),
    datum: cbor,
  });
  return completeTx("open lease", () =>
    lucid.newTx().pay.ToContract(params.script.address, { kind: "inline", value: cbor }, leaseAssets(datum, lovelace, deposit)).validTo(validTo).complete(),
  );
}
