/**
 * EIP-712 signatures of provider messages (offers, confirmations, job events) under NTX_EIP712_DOMAIN. Signing
 * goes through ethers; digests are computed by eip712-hash.ts (ethers' generic encoder cost ~210 µs a
 * confirmation) and verification avoids key recovery: messages carry the provider id, which is the compressed
 * public key, so the check is a plain ECDSA verify of the digest against that key, with libsecp256k1
 * (src/crypto/secp256k1.ts). node:crypto cannot do it: its ECDSA always hashes the input itself.
 */
import { createHash } from "node:crypto";
import { SigningKey, type TypedDataField } from "ethers";
import { RecentMap } from "../../offchain/recent-map.js";
import { NtxError } from "../../offchain/errors.js";
import { secp256k1VerifyDigest } from "../crypto/secp256k1.js";
import { typedDataHasher } from "./eip712-hash.js";
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
    { name: "terms", type: "Terms" },
    { name: "expiresAt", type: "uint64" },
    { name: "nonce", type: "uint64" },
  ],
  Terms: [
    { name: "arbiters", type: "bytes28[]" },
    { name: "maxChallengeWindowMs", type: "uint64" },
    { name: "maxDeadlineMs", type: "uint64" },
    { name: "lockWindowMs", type: "uint64" },
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
    terms: { ...offer.terms, arbiters: offer.terms.arbiters.map((a) => `0x${a}`) },
    expiresAt: offer.expiresAt,
    nonce: BigInt(offer.nonce),
  };
}

const toHex = (digest: Uint8Array) => `0x${Buffer.from(digest).toString("hex")}`;

const offerHasher = typedDataHasher(OFFER_TYPES, "Offer");
const confirmHasher = typedDataHasher(PROVIDER_CONFIRM_TYPES, "ProviderConfirm");
const jobEventHasher = typedDataHasher(JOB_EVENT_TYPES, "JobEvent");

export function offerDigest(offer: AnyOffer): string {
  return toHex(offerHasher.digest(offerValue(offer)));
}

function confirmValue(c: UnsignedProviderConfirm): Record<string, unknown> {
  return { v: c.v, matchId: c.matchId, jobHash: `0x${c.jobHash}`, providerId: `0x${c.providerId}`, confirmedAt: c.confirmedAt };
}

export function providerConfirmDigest(c: UnsignedProviderConfirm): string {
  return toHex(confirmHasher.digest(confirmValue(c)));
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
  return toHex(jobEventHasher.digest(jobEventValue(e)));
}

/** The provider id of a secp256k1 private key: its compressed public key, lowercase hex without 0x. */
/**
 * Provider ids of the keys signed with, by a hash of the key (the key itself is not kept here): every signature
 * checks its key's id, a point multiplication that cost a provider about as much as the signature itself.
 */
const providerIds = new RecentMap<string, string>(256);

export function providerIdOf(privateKey: string | SigningKey): string {
  const memo = createHash("sha256").update(typeof privateKey === "string" ? privateKey : privateKey.privateKey).digest("base64");
  let id = providerIds.get(memo);
  if (id === undefined) providerIds.set(memo, (id = (typeof privateKey === "string" ? new SigningKey(privateKey) : privateKey).compressedPublicKey.slice(2).toLowerCase()));
  return id;
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

/** True when `signature` (0x r||s||v) is `providerId`'s low-s ECDSA signature of the 0x digest. */
export function verifyProviderDigest(digest: string, signature: string, providerId: string): boolean {
  if (!/^0x[0-9a-f]{130}$/.test(signature) || !/^0x[0-9a-f]{64}$/.test(digest) || !/^0[23][0-9a-f]{64}$/.test(providerId)) return false;
  // v is not needed to verify, but an EVM `ecrecover` of the same proof needs a well-formed one.
  const v = Number.parseInt(signature.slice(130, 132), 16);
  if (v !== 27 && v !== 28) return false;
  return secp256k1VerifyDigest(Buffer.from(digest.slice(2), "hex"), Buffer.from(signature.slice(2, 130), "hex"), Buffer.from(providerId, "hex"));
}
