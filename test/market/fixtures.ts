/** Builders of signed market messages for the market tests and bench. */
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "../../src/market/cose.js";
import { providerIdOf, signOffer } from "../../src/market/eip712.js";
import { signBid } from "../../src/market/bid-signing.js";
import type { BidInput, OfferInput, UnsignedBid, UnsignedOffer } from "../../src/market/schemas.js";

export interface Buyer {
  seed: Uint8Array;
  key: string;
}

export function newBuyer(): Buyer {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, key: Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(seed))).toString("hex") };
}

export interface Provider {
  privateKey: string;
  id: string;
}

export function newProvider(): Provider {
  const wallet = Wallet.createRandom();
  return { privateKey: wallet.privateKey, id: providerIdOf(wallet.privateKey) };
}

let nonceCounter = BigInt(Date.now()) * 1000n;
export const nextNonce = () => (nonceCounter++).toString();

/** Terms every fixture offer signs unless told otherwise: accepts no arbiter, the fixture bid's terms fit. */
export const offerTerms = { arbiters: [], maxChallengeWindowMs: 86_400_000, maxDeadlineMs: 7 * 86_400_000, lockWindowMs: 600_000 };
export const bidTerms = { challengeWindowMs: 3_600_000 };

export function unsignedOffer(provider: Provider, over: Partial<UnsignedOffer> = {}): UnsignedOffer {
  return {
    v: 1,
    type: "offer",
    providerId: provider.id,
    payoutAddress: "addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8",
    region: "eu-west",
    attributes: {},
    resources: { cpuCores: 8, memoryMiB: 16384, diskGiB: 100, gpus: [] },
    prices: { cpuCoreHour: "1000", memoryGiBHour: "100", diskGiBHour: "1", gpuHour: "50000" },
    maxDurationMs: 24 * 3_600_000,
    terms: offerTerms,
    expiresAt: Date.now() + 3_600_000,
    nonce: nextNonce(),
    ...over,
  };
}

export function makeOffer(provider: Provider, over: Partial<UnsignedOffer> = {}): OfferInput {
  return signOffer(provider.privateKey, unsignedOffer(provider, over)) as OfferInput;
}

export function unsignedBid(buyer: Buyer, over: Partial<UnsignedBid> = {}, specOver: Partial<UnsignedBid["spec"]> = {}): UnsignedBid {
  return {
    v: 1,
    type: "bid",
    spec: {
      image: "ntx-test/busybox:1",
      command: ["sh", "-c", `echo ${Math.random()}`],
      env: {},
      resources: { cpuCores: 1, memoryMiB: 1024, diskGiB: 1 },
      maxDurationMs: 3_600_000,
      outputs: ["/work/out"],
      network: "none",
      ...specOver,
    },
    maxPrice: "1000000",
    deadline: Date.now() + 7_200_000,
    expiresAt: Date.now() + 600_000,
    buyer: { key: buyer.key },
    nonce: nextNonce(),
    terms: bidTerms,
    ...over,
  };
}

export function makeBid(buyer: Buyer, over: Partial<UnsignedBid> = {}, specOver: Partial<UnsignedBid["spec"]> = {}): BidInput {
  return signBid(buyer.seed, unsignedBid(buyer, over, specOver));
}

export const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
