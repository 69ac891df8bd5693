/**
 * What a buyer signs for a bid. The CIP-8 payload is short readable text naming a digest, so a wallet's
 * signing prompt shows something a person can compare, and the digest binds every bid field: the job through
 * its jobHash, the rest through their canonical JSON.
 */
import type { KeyObject } from "node:crypto";
import { utf8ToBytes } from "@noble/hashes/utils";
import { NtxError } from "../../offchain/errors.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey, signData } from "./cose.js";
import { blake2b256Hex } from "../crypto/sodium.js";
import { canonicalJson, jobHash } from "./job-hash.js";
import type { BidInput, UnsignedBid } from "./schemas.js";

const PAYLOAD_PREFIX = "ntx-market bid v1 ";

/** The wire bid minus its spec and signature, plus the jobHash, canonical JSON, blake2b-256. */
export function bidDigest(bid: UnsignedBid | BidInput, hash: string): string {
  // Copied key by key: an object rest-spread of a freshly parsed bid is a slow generic copy, on every bid.
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(bid)) if (key !== "spec" && key !== "signature") fields[key] = (bid as unknown as Record<string, unknown>)[key];
  fields.jobHash = hash;
  return blake2b256Hex(canonicalJson(fields));
}

export function bidSigningPayload(bid: UnsignedBid | BidInput, hash: string): Uint8Array {
  return utf8ToBytes(PAYLOAD_PREFIX + bidDigest(bid, hash));
}

/** Payload as hex: what to hand a CIP-30 wallet's `signData(address, payloadHex)`. */
export function bidSigningPayloadHex(bid: UnsignedBid): string {
  return Buffer.from(bidSigningPayload(bid, jobHash(bid.spec))).toString("hex");
}

/**
 * Signs a bid with a local Ed25519 key (32-byte seed or KeyObject): the same COSE_Sign1 a wallet returns. With
 * `address` (raw bytes of a key-hash address of this key) it is also put in the protected header like CIP-8.
 */
export function signBid(key: Uint8Array | KeyObject, bid: UnsignedBid, options: { address?: Uint8Array } = {}): BidInput {
  const privateKey = key instanceof Uint8Array ? ed25519PrivateKeyObject(key) : key;
  const publicKey = Buffer.from(ed25519RawPublicKey(privateKey)).toString("hex");
  if (bid.buyer.key !== publicKey) throw new NtxError("MARKET_BAD_KEY", "the bid's buyer key is not this key's public key");
  const signed = signData(privateKey, bidSigningPayload(bid, jobHash(bid.spec)), options.address);
  return { ...bid, signature: { signature: Buffer.from(signed.signature).toString("hex"), key: Buffer.from(signed.key).toString("hex") } };
}
