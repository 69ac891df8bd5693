import { blake2b } from "@noble/hashes/blake2b";
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils";
import { SigningKey, TypedDataEncoder, verifyTypedData, computeAddress } from "ethers";
import { z } from "zod/v4";
import { NTX_EIP712_DOMAIN } from "./eip712-domain.js";
import { NtxError } from "./errors.js";

/*
 * Completion proofs: EIP-712 typed data signed by the provider's secp256k1 key with ethers, verified on-chain by
 * the escrow (keccak_256 + verifyEcdsaSecp256k1Signature), off-chain here, and by `ecrecover` on any EVM chain.
 */

export const COMPLETION_PROOF_TYPES = {
  CompletionProof: [
    { name: "escrowRef", type: "bytes32" },
    { name: "jobHash", type: "bytes32" },
    { name: "resultHash", type: "bytes32" },
  ],
};

export interface CompletionProofFields {
  /** escrowRef(outRef) of the escrow being completed, 32 bytes hex. */
  escrowRef: string;
  jobHash: string;
  resultHash: string;
}

const bytes32 = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be 32 bytes of hex");
const fieldsSchema = z.object({ escrowRef: bytes32, jobHash: bytes32, resultHash: bytes32 });
const strip0x = (h: string) => (h.startsWith("0x") ? h.slice(2) : h).toLowerCase();

function cborUint(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new NtxError("INVALID_OUT_REF", `bad output index ${n}`);
  if (n < 24) return new Uint8Array([n]);
  if (n < 0x100) return new Uint8Array([0x18, n]);
  if (n < 0x10000) return new Uint8Array([0x19, n >> 8, n & 0xff]);
  return new Uint8Array([0x1a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/**
 * The escrow reference signed in a completion proof, as the validator derives it from the out-ref it spends:
 * blake2b-256 of serialiseData(TxOutRef) where TxOutRef = Constr 0 [txId bytes, index] (V3: the tx id is plain
 * bytes). Plutus serialises a constructor as tag 121 followed by an indefinite-length field list.
 */
export function escrowRef(outRef: { txHash: string; outputIndex: number }): string {
  if (!/^[0-9a-f]{64}$/.test(outRef.txHash)) throw new NtxError("INVALID_OUT_REF", `bad tx hash ${outRef.txHash}`);
  const cbor = concatBytes(
    new Uint8Array([0xd8, 0x79, 0x9f, 0x58, 0x20]),
    hexToBytes(outRef.txHash),
    cborUint(outRef.outputIndex),
    new Uint8Array([0xff]),
  );
  return bytesToHex(blake2b(cbor, { dkLen: 32 }));
}

function typedValue(fields: CompletionProofFields) {
  const f = fieldsSchema.parse(fields);
  return { escrowRef: `0x${strip0x(f.escrowRef)}`, jobHash: `0x${strip0x(f.jobHash)}`, resultHash: `0x${strip0x(f.resultHash)}` };
}

/** What the signature covers: the EIP-712 digest (keccak256(0x1901 ‖ domainSeparator ‖ structHash)), hex. */
export function completionProofDigest(fields: CompletionProofFields): string {
  return strip0x(TypedDataEncoder.hash(NTX_EIP712_DOMAIN, COMPLETION_PROOF_TYPES, typedValue(fields)));
}

/** Anything that signs EIP-712 typed data the ethers way (an ethers Wallet or JsonRpcSigner). */
export interface TypedDataSigner {
  signTypedData(domain: object, types: Record<string, Array<{ name: string; type: string }>>, value: Record<string, unknown>): Promise<string>;
}

/** Signs a completion proof; returns the 65-byte r‖s‖v signature as lowercase hex (no 0x). */
export async function signCompletionProof(signer: TypedDataSigner, fields: CompletionProofFields): Promise<string> {
  const signature = await signer.signTypedData(NTX_EIP712_DOMAIN, COMPLETION_PROOF_TYPES, typedValue(fields));
  return strip0x(signature);
}

/** The 33-byte compressed public key (hex) the escrow datum stores: the node refuses any other length. */
export function compressedProofKey(keyOrSigningKey: string | SigningKey): string {
  const key = typeof keyOrSigningKey === "string" ? SigningKey.computePublicKey(keyOrSigningKey, true) : keyOrSigningKey.compressedPublicKey;
  return strip0x(key);
}

/** True when `signature` (64 or 65 bytes hex) is a proof over `fields` by the holder of `proofKey`. */
export function verifyCompletionProof(fields: CompletionProofFields, signature: string, proofKey: string): boolean {
  try {
    const sig = strip0x(signature);
    const expected = computeAddress(`0x${strip0x(proofKey)}`);
    const value = typedValue(fields);
    if (sig.length === 130) return verifyTypedData(NTX_EIP712_DOMAIN, COMPLETION_PROOF_TYPES, value, `0x${sig}`) === expected;
    if (sig.length !== 128) return false;
    // A bare r‖s (what the script receives) carries no recovery id: try both.
    return ["1b", "1c"].some((v) => verifyTypedData(NTX_EIP712_DOMAIN, COMPLETION_PROOF_TYPES, value, `0x${sig}${v}`) === expected);
  } catch {
    return false;
  }
}

/** The 64 bytes r‖s the on-chain builtin takes (ethers signatures are always low-s, as the builtin requires). */
export function onChainSignature(signature: string): string {
  const sig = strip0x(signature);
  if (sig.length !== 130 && sig.length !== 128) {
    throw new NtxError("INVALID_SIGNATURE", "a completion proof signature is 65 bytes r‖s‖v (or 64 bytes r‖s)");
  }
  return sig.slice(0, 128);
}
