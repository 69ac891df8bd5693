import { Constr, Data, getAddressDetails } from "@lucid-evolution/lucid";
import type { Network } from "@lucid-evolution/lucid";
import { z } from "zod/v4";
import { addressToData, dataToAddress, hash32Schema, keyHashSchema } from "./datum.js";
import { NtxError } from "./errors.js";
import { ntxAssetSchema, type NtxAsset } from "./ntx.js";

/*
 * Codecs for the lease datum and redeemers, mirroring contracts/lease.ts and the LeaseDatum/LeaseRedeemer
 * definitions of contracts/plutus.json (test/offchain/lease-datum.test.ts holds them to the blueprint).
 */

export interface LeaseDatum {
  /** Buyer's payment key hash: signs TopUp and Close, gets back what has not accrued. */
  buyer: string;
  /** Provider's payout address (bech32, payment key credential): paid on Close/Settle; its key signs claims. */
  provider: string;
  /** The asset that pays (the network's NTX; a reader skips leases in any other asset). */
  asset: NtxAsset;
  /** Base units per 1000 ms of POSIX time (one slot on every Cardano network). */
  rate: bigint;
  /** POSIX ms: accrual runs from here. */
  lastClaim: number;
  /** POSIX ms: nothing accrues after it; from it on anyone may settle. */
  end: number;
  /** ms: how long before the balance runs out the provider warns the buyer and then stops (off-chain rule). */
  notice: number;
  /**
   * The service job this lease pays for (32-byte hex, the market's job hash): the provider runs a lease's service
   * only for the job it confirmed, and a lease cannot be re-pointed at another job (the validator copies it).
   */
  jobHash: string;
}

const posixMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const leaseDatumSchema = z
  .object({
    buyer: keyHashSchema,
    provider: z.string().min(1),
    asset: ntxAssetSchema,
    rate: z.bigint().positive(),
    lastClaim: posixMs,
    end: posixMs,
    notice: posixMs,
    jobHash: hash32Schema,
  })
  .refine((d) => d.end >= d.lastClaim, { message: "end must not be before lastClaim", path: ["end"] });

/** Upper bound of a lease datum in CBOR bytes. */
export const MAX_LEASE_DATUM_BYTES = 300;

/** Validates and encodes a lease datum as CBOR hex; the provider's address must have a payment key (it signs claims). */
export function encodeLeaseDatum(datum: LeaseDatum): string {
  const parsed = leaseDatumSchema.safeParse(datum);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NtxError("INVALID_LEASE", `invalid lease datum: ${issue?.path.join(".")} ${issue?.message}`);
  }
  const d = parsed.data;
  if (getAddressDetails(d.provider).paymentCredential?.type !== "Key") {
    throw new NtxError("INVALID_LEASE", "the provider's address must have a payment key: that key signs lease claims");
  }
  const cbor = Data.to(
    new Constr(0, [d.buyer, addressToData(d.provider), d.asset.policyId, d.asset.assetName, d.rate, BigInt(d.lastClaim), BigInt(d.end), BigInt(d.notice), d.jobHash]) as Data,
  );
  if (cbor.length / 2 > MAX_LEASE_DATUM_BYTES) throw new NtxError("DATUM_TOO_LARGE", `lease datum is ${cbor.length / 2} bytes`);
  return cbor;
}

const asMs = (v: unknown): number => {
  if (typeof v !== "bigint" || v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("time out of range");
  return Number(v);
};

/** Decodes and validates an inline lease datum; throws NtxError(INVALID_LEASE) on anything else. */
export function decodeLeaseDatum(cbor: string, network: Network): LeaseDatum {
  try {
    if (cbor.length / 2 > MAX_LEASE_DATUM_BYTES) throw new Error(`datum is ${cbor.length / 2} bytes`);
    const d = Data.from(cbor);
    if (!(d instanceof Constr) || d.index !== 0 || d.fields.length !== 9) throw new Error("not a lease datum");
    const [buyer, provider, policyId, assetName, rate, lastClaim, end, notice, jobHash] = d.fields;
    if (typeof rate !== "bigint") throw new Error("rate is not an integer");
    return leaseDatumSchema.parse({
      buyer,
      provider: dataToAddress(provider, network),
      asset: { policyId, assetName },
      rate,
      lastClaim: asMs(lastClaim),
      end: asMs(end),
      notice: asMs(notice),
      jobHash,
    });
  } catch (cause) {
    if (cause instanceof NtxError) throw cause;
    throw new NtxError("INVALID_LEASE", `not a valid lease datum: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/* Redeemers: indices are positions in the transaction's (sorted) inputs and outputs, checked on-chain. */
export const LeaseRedeemer = {
  claim: (inputIndex: bigint) => Data.to(new Constr(0, [inputIndex]) as Data),
  topUp: (inputIndex: bigint, newEnd: number) => Data.to(new Constr(1, [inputIndex, BigInt(newEnd)]) as Data),
  close: (inputIndex: bigint, providerOutput: number, buyerOutput: number) => Data.to(new Constr(2, [inputIndex, BigInt(providerOutput), BigInt(buyerOutput)]) as Data),
  settle: (inputIndex: bigint, providerOutput: number, buyerOutput: number) => Data.to(new Constr(3, [inputIndex, BigInt(providerOutput), BigInt(buyerOutput)]) as Data),
} as const;

/** Longest validity interval of a LeaseClose (the validator's LEASE_MAX_CLOSE_WINDOW_MS; a test holds them equal). */
export const LEASE_MAX_CLOSE_WINDOW_MS = 600_000;

/**
 * What the provider is owed at POSIX ms `t`, as the validator computes it: floor(rate × (min(t, end) − lastClaim) /
 * 1000), never negative, never more than `balance`.
 */
export function leaseOwed(datum: Pick<LeaseDatum, "rate" | "lastClaim" | "end">, balance: bigint, t: number): bigint {
  const upTo = Math.min(t, datum.end);
  const accrued = (datum.rate * BigInt(upTo - datum.lastClaim)) / 1000n;
  // BigInt division truncates toward zero: a negative accrual is 0 anyway.
  if (accrued <= 0n) return 0n;
  return accrued < balance ? accrued : balance;
}
