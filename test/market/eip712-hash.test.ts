import { randomBytes } from "node:crypto";
import { SigningKey, TypedDataEncoder } from "ethers";
import { describe, expect, it } from "vitest";
import { NTX_EIP712_DOMAIN } from "../../offchain/eip712-domain.js";
import { secp256k1VerifyDigest } from "../../src/crypto/secp256k1.js";
import { JOB_EVENT_TYPES, OFFER_TYPES, PROVIDER_CONFIRM_TYPES, providerIdOf, verifyProviderDigest } from "../../src/market/eip712.js";
import { typedDataHasher } from "../../src/market/eip712-hash.js";

let seed = 99;
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
const hex = (bytes: number) => `0x${randomBytes(bytes).toString("hex")}`;
const text = () => ["", "eu", "a100", "naïve ✓", "x".repeat(rand(300)), "quote\"and\\slash"][rand(6)]!;

function randomOffer() {
  return {
    v: rand(2 ** 32),
    providerId: hex(33),
    payoutAddress: text(),
    region: text(),
    attributes: Array.from({ length: rand(4) }, () => ({ key: text(), value: text() })),
    resources: { cpuCores: rand(4096), memoryMiB: BigInt(rand(2 ** 31)) * 1_000n, diskGiB: rand(100_000), gpus: Array.from({ length: rand(3) }, () => ({ model: text(), vramMiB: rand(200_000) })) },
    prices: { cpuCoreHour: BigInt(rand(2 ** 31)) ** 4n, memoryGiBHour: 0n, diskGiBHour: BigInt(rand(1000)), gpuHour: 2n ** 255n + BigInt(rand(1000)) },
    maxDurationMs: rand(2 ** 31),
    terms: { arbiters: Array.from({ length: rand(4) }, () => hex(28)), maxChallengeWindowMs: rand(2 ** 40), maxDeadlineMs: rand(2 ** 40), lockWindowMs: rand(2 ** 31) },
    expiresAt: Date.now() + rand(1e9),
    nonce: 2n ** 64n - 1n - BigInt(rand(1000)),
  };
}

describe("EIP-712 digests without ethers' encoder", () => {
  it("equal ethers' digests for random offers, confirmations and job events", () => {
    const offer = typedDataHasher(OFFER_TYPES, "Offer");
    const confirm = typedDataHasher(PROVIDER_CONFIRM_TYPES, "ProviderConfirm");
    const event = typedDataHasher(JOB_EVENT_TYPES, "JobEvent");
    const hexOf = (d: Uint8Array) => `0x${Buffer.from(d).toString("hex")}`;
    for (let i = 0; i < 150; i++) {
      const o = randomOffer();
      expect(hexOf(offer.digest(o))).toBe(TypedDataEncoder.hash(NTX_EIP712_DOMAIN, OFFER_TYPES, o));
      const c = { v: 1, matchId: `${text()}-${rand(9)}`, jobHash: hex(32), providerId: hex(33), confirmedAt: rand(2 ** 40) };
      expect(hexOf(confirm.digest(c))).toBe(TypedDataEncoder.hash(NTX_EIP712_DOMAIN, PROVIDER_CONFIRM_TYPES, c));
      // int64 exit codes are signed: negative ones exercise the two's complement encoding.
      const e = { v: 1, jobHash: hex(32), providerId: hex(33), seq: rand(1e6), kind: text(), at: rand(2 ** 40), message: text(), resultHash: hex(32), exitCode: rand(512) - 256 };
      expect(hexOf(event.digest(e))).toBe(TypedDataEncoder.hash(NTX_EIP712_DOMAIN, JOB_EVENT_TYPES, e));
    }
  });

  it("refuses what ethers refuses: values out of their type's range, wrong byte lengths, missing fields", () => {
    const confirm = typedDataHasher(PROVIDER_CONFIRM_TYPES, "ProviderConfirm");
    const good = { v: 1, matchId: "m-1", jobHash: hex(32), providerId: hex(33), confirmedAt: 5 };
    expect(() => confirm.digest(good)).not.toThrow();
    for (const bad of [{ ...good, v: 2 ** 32 }, { ...good, confirmedAt: -1 }, { ...good, jobHash: hex(31) }, { ...good, providerId: "02ab" }, { ...good, matchId: 7 }, { v: 1, matchId: "m-1", jobHash: hex(32), providerId: hex(33) }]) {
      expect(() => confirm.digest(bad)).toThrow(/EIP-712/);
      expect(() => TypedDataEncoder.hash(NTX_EIP712_DOMAIN, PROVIDER_CONFIRM_TYPES, bad)).toThrow();
    }
  });
});

describe("provider signature checks with libsecp256k1", () => {
  const key = new SigningKey(hex(32));
  const providerId = providerIdOf(key);
  const digest = hex(32);
  const signature = key.sign(digest).serialized;

  it("accept the provider's signature of the digest and nothing else", () => {
    expect(verifyProviderDigest(digest, signature, providerId)).toBe(true);
    expect(verifyProviderDigest(hex(32), signature, providerId)).toBe(false);
    expect(verifyProviderDigest(digest, signature, providerIdOf(new SigningKey(hex(32))))).toBe(false);
  });

  it("refuse a high-s twin, a bad v, an unparseable r and a key off the curve, without throwing", () => {
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${signature.slice(66, 130)}`);
    const highS = `${signature.slice(0, 66)}${(n - s).toString(16).padStart(64, "0")}${signature.slice(130)}`;
    expect(verifyProviderDigest(digest, highS, providerId)).toBe(false);
    expect(verifyProviderDigest(digest, `${signature.slice(0, 130)}1d`, providerId)).toBe(false);
    expect(verifyProviderDigest(digest, `0x${"ff".repeat(32)}${signature.slice(66)}`, providerId)).toBe(false);
    expect(verifyProviderDigest(digest, signature, `02${"00".repeat(32)}`)).toBe(false);
    expect(secp256k1VerifyDigest(new Uint8Array(31), new Uint8Array(64), new Uint8Array(33))).toBe(false);
  });
});
