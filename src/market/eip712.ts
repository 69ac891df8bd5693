/**
 * EIP-712 signatures of provider messages (offers, confirmations, job events) under NTX_EIP712_DOMAIN, made
 * with ethers. Verification avoids key recovery: messages carry the provider id, which is the compressed
 * public key, so the check is a plain ECDSA verify of the EIP-712 digest against that key. node:crypto cannot
 * do it (its ECDSA always hashes the input with SHA-2/3 and OpenSSL 3.0 has no keccak-256), so it is
 * @noble/curves' verify: ~10% cheaper than ethers' recovery, and the key is decompressed once per provider.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { SigningKey, TypedDataEncoder, type TypedDataField } from "ethers";
import { NTX_EIP712_DOMAIN } from "../../offchain/eip712-domain.js";
import { NtxError } from "../../offchain/errors.js";
import type { UnsignedJobEvent, UnsignedOffer, UnsignedProviderConfirm } from "./schemas.js";

export const OFFER_TYPES: Record<string, TypedDataField[]> = {
  Offer: [
    { name: "v", type: "uint32" },
    { name: "providerId", type: "bytes" },
    { name: "payoutAddress", type: "string" },
    { name: "region", type: "string" },
    { name: "attributes", type: "Attribute[]" },
    { name: "resources", type: "Resources" },
    { name: "prices", type: "Prices" },
    { name: "maxDurationMs", type: "uint64" },
    { name: "expiresAt", type: "uint64" },
    { name: "nonce", type: "uint64" },
  ],
  Attribute: [
    { name: "key", type: "string" },
    { name: "value", type: "string" },
  ],
  Resources: [
    { name: "cpuCores", type: "uint32" },
    { name: "memoryMiB", type: "uint64" },
    { name: "diskGiB", type: "uint64" },
    { name: "gpus", type: "Gpu[]" },
  ],
  Gpu: [
    { name: "model", type: "string" },
    { name: "vramMiB", type: "uint64" },
  ],
  Prices: [
    { name: "cpuCoreHour", type: "uint256" },
    { name: "memoryGiBHour", type: "uint256" },
    { name: "diskGiBHour", type: "uint256" },
    { name: "gpuHour", type: "uint256" },
  ],
};

export const PROVIDER_CONFIRM_TYPES: Record<string, TypedDataField[]> = {
  ProviderConfirm: [
    { name: "v", type: "uint32" },
    { name: "matchId", type: "string" },
    { name: "jobHash", type: "bytes32" },
    { name: "providerId", type: "bytes" },
    { name: "confirmedAt", type: "uint64" },
  ],
};

export const JOB_EVENT_TYPES: Record<string, TypedDataField[]> = {
  JobEvent: [
    { name: "v", type: "uint32" },
    { name: "jobHash", type: "bytes32" },
    { name: "providerId", type: "bytes" },
    { name: "seq", type: "uint64" },
    { name: "kind", type: "string" },
    { name: "at", type: "uint64" },
    { name: "message", type: "string" },
    { name: "resultHash", type: "bytes32" },
    { name: "exitCode", type: "int64" },
  ],
};

type AnyOffer = Omit<UnsignedOffer, "prices"> & { prices: Record<"cpuCoreHour" | "memoryGiBHour" | "diskGiBHour" | "gpuHour", string | bigint> };

function offerValue(offer: AnyOffer): Record<string, unknown> {
  return {
    v: offer.v,
    providerId: `0x${offer.providerId}`,
    payoutAddress: offer.payoutAddress,
    region: offer.region,
    // EIP-712 has no maps: attributes are signed as a list sorted by key, so the JSON key order is irrelevant.
    attributes: Object.keys(offer.attributes)
      .sort()
      .map((key) => ({ key, value: offer.attributes[key] })),
    resources: offer.resources,
    prices: {
      cpuCoreHour: BigInt(offer.prices.cpuCoreHour),
      memoryGiBHour: BigInt(offer.prices.memoryGiBHour),
      diskGiBHour: BigInt(offer.prices.diskGiBHour),
      gpuHour: BigInt(offer.prices.gpuHour),
    },
    maxDurationMs: offer.maxDurationMs,
    expiresAt: offer.expiresAt,
    nonce: BigInt(offer.nonce),
  };
}

export function offerDigest(offer: AnyOffer): string {
  return TypedDataEncoder.hash(NTX_EIP712_DOMAIN, OFFER_TYPES, offerValue(offer));
}

function confirmValue(c: UnsignedProviderConfirm): Record<string, unknown> {
  return { v: c.v, matchId: c.matchId, jobHash: `0x${c.jobHash}`, providerId: `0x${c.providerId}`, confirmedAt: c.confirmedAt };
}

export function providerConfirmDigest(c: UnsignedProviderConfirm): string {
  return TypedDataEncoder.hash(NTX_EIP712_DOMAIN, PROVIDER_CONFIRM_TYPES, confirmValue(c));
}

function jobEventValue(e: UnsignedJobEvent): Record<string, unknown> {
  return {
    v: e.v,
    jobHash: `0x${e.jobHash}`,
    providerId: `0x${e.providerId}`,
    seq: e.seq,
    kind: e.kind,
    at: e.at,
    message: e.message ?? "",
    resultHash: `0x${e.resultHash ?? "00".repeat(32)}`,
    exitCode: e.exitCode ?? 0,
  };
}

export function jobEventDigest(e: UnsignedJobEvent): string {
  return TypedDataEncoder.hash(NTX_EIP712_DOMAIN, JOB_EVENT_TYPES, jobEventValue(e));
}

/** The provider id of a secp256k1 private key: its compressed public key, lowercase hex without 0x. */
export function providerIdOf(privateKey: string | SigningKey): string {
  const key = typeof privateKey === "string" ? new SigningKey(privateKey) : privateKey;
  return key.compressedPublicKey.slice(2).toLowerCase();
}

function signDigest(privateKey: string | SigningKey, digest: string): string {
  const key = typeof privateKey === "string" ? new SigningKey(privateKey) : privateKey;
  return key.sign(digest).serialized.toLowerCase();
}

export function signOffer<T extends AnyOffer>(privateKey: string | SigningKey, offer: T): T & { signature: string } {
  if (providerIdOf(privateKey) !== offer.providerId) throw new NtxError("MARKET_BAD_KEY", "the offer's providerId is not this key's public key");
  return { ...offer, signature: signDigest(privateKey, offerDigest(offer)) };
}

export function signProviderConfirm(privateKey: string | SigningKey, confirm: UnsignedProviderConfirm): UnsignedProviderConfirm & { signature: string } {
  if (providerIdOf(privateKey) !== confirm.providerId) throw new NtxError("MARKET_BAD_KEY", "providerId is not this key's public key");
  return { ...confirm, signature: signDigest(privateKey, providerConfirmDigest(confirm)) };
}

export function signJobEvent(privateKey: string | SigningKey, event: UnsignedJobEvent): UnsignedJobEvent & { signature: string } {
  if (providerIdOf(privateKey) !== event.providerId) throw new NtxError("MARKET_BAD_KEY", "providerId is not this key's public key");
  return { ...event, signature: signDigest(privateKey, jobEventDigest(event)) };
}

/**
 * Decompressing a key costs a modular square root; providers re-publish offers as heartbeats, so the
 * uncompressed form is kept per provider id (bounded: the oldest entries go first).
 */
const pointCache = new Map<string, Uint8Array>();
const POINT_CACHE_MAX = 200_000;

function uncompressedKey(providerId: string): Uint8Array | undefined {
  let key = pointCache.get(providerId);
  if (!key) {
    try {
      key = secp256k1.ProjectivePoint.fromHex(providerId).toRawBytes(false);
    } catch {
      return undefined;
    }
    if (pointCache.size >= POINT_CACHE_MAX) pointCache.delete(pointCache.keys().next().value as string);
    pointCache.set(providerId, key);
  }
  return key;
}

/** True when `signature` (0x r||s||v) is `providerId`'s low-s ECDSA signature of the 0x digest. */
export function verifyProviderDigest(digest: string, signature: string, providerId: string): boolean {
  const key = uncompressedKey(providerId);
  if (!key) return false;
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  // v is not needed to verify, but an EVM `ecrecover` of the same proof needs a well-formed one.
  if (v !== 27 && v !== 28) return false;
  try {
    return secp256k1.verify({ r, s }, digest.slice(2), key, { lowS: true });
  } catch {
    return false;
  }
}
