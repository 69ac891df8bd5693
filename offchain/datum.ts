import { Constr, Data, credentialToAddress, getAddressDetails } from "@lucid-evolution/lucid";
import type { Credential, Network } from "@lucid-evolution/lucid";
import { z } from "zod/v4";
import { NtxError } from "./errors.js";

/*
 * Codecs for the escrow datum and redeemers, mirroring contracts/escrow.ts and the definitions in
 * contracts/plutus.json (test/offchain/datum.test.ts checks them against the blueprint). Hand-written over
 * Lucid's Constr rather than generated Data schemas: the state is a sum type with fields, which the schema DSL
 * of Lucid 0.4 encodes ambiguously, and these codecs are also where the field sizes get checked.
 */

export const EscrowStateKind = { Locked: "locked", Completed: "completed", Disputed: "disputed" } as const;

export type EscrowState =
  | { kind: typeof EscrowStateKind.Locked }
  | { kind: typeof EscrowStateKind.Completed; resultHash: string; completedAt: number }
  | { kind: typeof EscrowStateKind.Disputed };

export interface EscrowDatum {
  state: EscrowState;
  /** Requester's payment key hash (28 bytes hex): signs Accept, Dispute, Refund, Cancel; gets the min-ADA back. */
  requester: string;
  /** Provider's payout address (bech32): receives the NTX. */
  payout: string;
  /** Provider's 33-byte compressed secp256k1 key (hex) that signs completion proofs. */
  proofKey: string;
  jobHash: string;
  /** NTX base units. */
  amount: bigint;
  /** POSIX ms: Complete must happen before it, Refund after it. */
  deadline: number;
  /** ms after completion during which the requester may dispute. */
  challengeWindow: number;
  /** Arbiter's payment key hash, or null (then there is no Dispute). */
  arbiter: string | null;
}

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes of lowercase hex`);
export const keyHashSchema = hex(28);
export const hash32Schema = hex(32);
export const proofKeySchema = z
  .string()
  .regex(/^0[23][0-9a-f]{64}$/, "proof key must be a 33-byte compressed secp256k1 public key (02/03 prefix)");
const posixMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const escrowStateSchema: z.ZodType<EscrowState> = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("locked") }),
  z.object({ kind: z.literal("completed"), resultHash: hash32Schema, completedAt: posixMs }),
  z.object({ kind: z.literal("disputed") }),
]);

export const escrowDatumSchema = z.object({
  state: escrowStateSchema,
  requester: keyHashSchema,
  payout: z.string().min(1),
  proofKey: proofKeySchema,
  jobHash: hash32Schema,
  amount: z.bigint().positive(),
  deadline: posixMs,
  challengeWindow: posixMs,
  arbiter: keyHashSchema.nullable(),
});

/** Upper bound of an escrow datum in CBOR bytes: a full base address and every field at its fixed size fit well under. */
export const MAX_DATUM_BYTES = 400;

function credentialToData(credential: Credential): Constr<string> {
  return new Constr(credential.type === "Key" ? 0 : 1, [credential.hash]);
}

function dataToCredential(data: unknown): Credential {
  if (!(data instanceof Constr) || data.fields.length !== 1 || typeof data.fields[0] !== "string" || data.index > 1) {
    throw new Error("malformed credential");
  }
  return { type: data.index === 0 ? "Key" : "Script", hash: keyHashSchema.parse(data.fields[0]) };
}

/** A bech32 address as a Plutus `Address` (pointer stake credentials are not supported). */
export function addressToData(address: string): Constr<unknown> {
  let details;
  try {
    details = getAddressDetails(address);
  } catch (cause) {
    throw new NtxError("INVALID_ADDRESS", `not a Cardano address: ${address}`, { cause });
  }
  if (!details.paymentCredential) throw new NtxError("INVALID_ADDRESS", `address has no payment credential: ${address}`);
  const stake = details.stakeCredential
    ? new Constr(0, [new Constr(0, [credentialToData(details.stakeCredential)])])
    : new Constr(1, []);
  return new Constr(0, [credentialToData(details.paymentCredential), stake]);
}

export function dataToAddress(data: unknown, network: Network): string {
  if (!(data instanceof Constr) || data.index !== 0 || data.fields.length !== 2) throw new Error("malformed address");
  const payment = dataToCredential(data.fields[0]);
  const stakeOpt = data.fields[1];
  if (!(stakeOpt instanceof Constr)) throw new Error("malformed stake credential");
  if (stakeOpt.index === 1) return credentialToAddress(network, payment);
  const inline = stakeOpt.fields[0];
  if (!(inline instanceof Constr) || inline.index !== 0) throw new Error("unsupported stake credential");
  return credentialToAddress(network, payment, dataToCredential(inline.fields[0]));
}

function stateToData(state: EscrowState): Constr<unknown> {
  switch (state.kind) {
    case "locked":
      return new Constr(0, []);
    case "completed":
      return new Constr(1, [state.resultHash, BigInt(state.completedAt)]);
    case "disputed":
      return new Constr(2, []);
  }
}

/** Validates and encodes a datum as CBOR hex (what goes inline in the escrow output). */
export function encodeEscrowDatum(datum: EscrowDatum): string {
  const parsed = escrowDatumSchema.safeParse(datum);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NtxError("INVALID_DATUM", `invalid escrow datum: ${issue?.path.join(".")} ${issue?.message}`);
  }
  const d = parsed.data;
  const cbor = Data.to(
    new Constr(0, [
      stateToData(d.state),
      d.requester,
      addressToData(d.payout),
      d.proofKey,
      d.jobHash,
      d.amount,
      BigInt(d.deadline),
      BigInt(d.challengeWindow),
      d.arbiter === null ? new Constr(1, []) : new Constr(0, [d.arbiter]),
    ]) as Data,
  );
  if (cbor.length / 2 > MAX_DATUM_BYTES) {
    throw new NtxError("DATUM_TOO_LARGE", `escrow datum is ${cbor.length / 2} bytes, more than ${MAX_DATUM_BYTES}`);
  }
  return cbor;
}

const asInt = (v: unknown): bigint => {
  if (typeof v !== "bigint") throw new Error("expected an integer");
  return v;
};
const asMs = (v: unknown): number => {
  const n = asInt(v);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("time out of range");
  return Number(n);
};

/** Decodes and validates an inline datum; throws NtxError(INVALID_DATUM) on anything the validator would not accept. */
export function decodeEscrowDatum(cbor: string, network: Network): EscrowDatum {
  try {
    if (cbor.length / 2 > MAX_DATUM_BYTES) throw new Error(`datum is ${cbor.length / 2} bytes`);
    const d = Data.from(cbor);
    if (!(d instanceof Constr) || d.index !== 0 || d.fields.length !== 9) throw new Error("not an escrow datum");
    const [st, requester, payout, proofKey, jobHash, amount, deadline, window, arbiter] = d.fields;
    if (!(st instanceof Constr)) throw new Error("malformed state");
    let state: EscrowState;
    if (st.index === 0 && st.fields.length === 0) state = { kind: "locked" };
    else if (st.index === 1 && st.fields.length === 2) {
      state = { kind: "completed", resultHash: st.fields[0] as string, completedAt: asMs(st.fields[1]) };
    } else if (st.index === 2 && st.fields.length === 0) state = { kind: "disputed" };
    else throw new Error("unknown state");
    if (!(arbiter instanceof Constr) || arbiter.index > 1) throw new Error("malformed arbiter");
    return escrowDatumSchema.parse({
      state,
      requester,
      payout: dataToAddress(payout, network),
      proofKey,
      jobHash,
      amount: asInt(amount),
      deadline: asMs(deadline),
      challengeWindow: asMs(window),
      arbiter: arbiter.index === 0 ? arbiter.fields[0] : null,
    });
  } catch (cause) {
    if (cause instanceof NtxError) throw cause;
    throw new NtxError("INVALID_DATUM", `not a valid escrow datum: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** Re-encodes `datum` with a new state: what Complete and Dispute put in the continuing output. */
export function withState(datum: EscrowDatum, state: EscrowState): EscrowDatum {
  return { ...datum, state };
}

/* Redeemers: indices are positions in the transaction's (sorted) inputs and outputs, checked on-chain. */

const idx = (n: number | bigint) => BigInt(n);

export const EscrowRedeemer = {
  complete: (inputIndex: bigint, outputIndex: number, signature64: string, resultHash: string) =>
    Data.to(new Constr(0, [idx(inputIndex), idx(outputIndex), signature64, resultHash]) as Data),
  accept: (inputIndex: bigint, providerOutput: number, requesterOutput: number) =>
    Data.to(new Constr(1, [idx(inputIndex), idx(providerOutput), idx(requesterOutput)]) as Data),
  claim: (inputIndex: bigint, providerOutput: number, requesterOutput: number) =>
    Data.to(new Constr(2, [idx(inputIndex), idx(providerOutput), idx(requesterOutput)]) as Data),
  refund: () => Data.to(new Constr(3, []) as Data),
  dispute: (inputIndex: bigint, outputIndex: number) => Data.to(new Constr(4, [idx(inputIndex), idx(outputIndex)]) as Data),
  resolve: (inputIndex: bigint, providerOutput: number, requesterOutput: number, providerShare: bigint) =>
    Data.to(new Constr(5, [idx(inputIndex), idx(providerOutput), idx(requesterOutput), providerShare]) as Data),
  cancel: () => Data.to(new Constr(6, []) as Data),
  /** The spend of an escrow settled by the batch run (the withdrawal from the script's stake credential). */
  batch: (inputIndex: bigint) => Data.to(new Constr(7, [idx(inputIndex)]) as Data),
} as const;

/** The batch run's redeemer (on the withdrawal): which settlement every escrow input of the transaction gets. */
export const BatchRedeemer = {
  claim: () => Data.to(new Constr(0, []) as Data),
  accept: () => Data.to(new Constr(1, []) as Data),
} as const;

/** The inline datum of every payout output: the settled escrow's out-ref, so no output pays for two escrows. */
export function payoutTag(outRef: { txHash: string; outputIndex: number }): string {
  return Data.to(new Constr(0, [outRef.txHash, BigInt(outRef.outputIndex)]) as Data);
}
