import { TypedDataEncoder, verifyTypedData, Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { addressOfSeed, walletSignData, walletVerifyData } from "../../offchain/cip8.js";
import { NTX_EIP712_DOMAIN } from "../../offchain/eip712-domain.js";
import { bidSigningPayload, bidSigningPayloadHex, signBid } from "../../src/market/bid-signing.js";
import { decodeBid, decodeOffer, decodeProviderConfirm } from "../../src/market/decode.js";
import { OFFER_TYPES, offerDigest, signProviderConfirm } from "../../src/market/eip712.js";
import { jobHash } from "../../src/market/job-hash.js";
import { MAX_MESSAGE_BYTES } from "../../src/market/protocol.js";
import { json, makeBid, makeOffer, newBuyer, newProvider, unsignedBid } from "./fixtures.js";

const now = () => Date.now();

describe("buyer bids (CIP-8 COSE_Sign1, Ed25519 via node:crypto)", () => {
  it("verifies a bid signed with the CLI key", () => {
    const buyer = newBuyer();
    const bid = makeBid(buyer);
    const decoded = decodeBid(json(bid), { now: now() });
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(decoded.value.jobHash).toBe(jobHash(bid.spec));
  });

  it("verifies a bid signed the way a CIP-30 wallet does (Lucid/CML signData, address in the header)", () => {
    const buyer = newBuyer();
    const address = addressOfSeed(buyer.seed);
    const unsigned = unsignedBid(buyer, { buyer: { key: buyer.key, address: address.hex } });
    const signed = walletSignData(buyer.seed, address.hex, bidSigningPayloadHex(unsigned));
    const decoded = decodeBid(json({ ...unsigned, signature: signed }), { now: now() });
    expect(decoded).toMatchObject({ ok: true });
  });

  it("produces a COSE_Sign1 that Lucid's verifyData accepts (one format for wallet and CLI)", () => {
    const buyer = newBuyer();
    const address = addressOfSeed(buyer.seed);
    const unsigned = unsignedBid(buyer, { buyer: { key: buyer.key, address: address.hex } });
    const bid = signBid(buyer.seed, unsigned, { address: Buffer.from(address.hex, "hex") });
    expect(walletVerifyData(address.hex, address.keyHash, bidSigningPayloadHex(unsigned), bid.signature)).toBe(true);
    expect(decodeBid(json(bid), { now: now() })).toMatchObject({ ok: true });
  });

  it("rejects a wallet signature made for another address's key", () => {
    const buyer = newBuyer();
    const other = newBuyer();
    const otherAddress = addressOfSeed(other.seed);
    const unsigned = unsignedBid(buyer);
    // Signed by `other`, but the bid names `buyer`'s key.
    const signed = walletSignData(other.seed, otherAddress.hex, bidSigningPayloadHex(unsigned));
    expect(decodeBid(json({ ...unsigned, signature: signed }), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("rejects every kind of bad bid with its reason", () => {
    const buyer = newBuyer();
    const bid = makeBid(buyer);
    const tampered = { ...bid, maxPrice: "999999999" };
    expect(decodeBid(json(tampered), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
    const otherSpec = { ...bid, spec: { ...bid.spec, command: ["rm", "-rf", "/"] } };
    expect(decodeBid(json(otherSpec), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
    const { signature: _s, ...unsigned } = bid;
    expect(decodeBid(json(unsigned), { now: now() })).toMatchObject({ ok: false, reason: "unsigned" });
    expect(decodeBid(json({ ...bid, signature: { signature: "", key: "" } }), { now: now() })).toMatchObject({ ok: false, reason: "unsigned" });
    expect(decodeBid("{not json", { now: now() })).toMatchObject({ ok: false, reason: "malformed" });
    expect(decodeBid(json({ ...bid, v: 2 }), { now: now() })).toMatchObject({ ok: false, reason: "malformed" });
    expect(decodeBid(json({ ...bid, maxPrice: -1 }), { now: now() })).toMatchObject({ ok: false, reason: "malformed" });
    expect(decodeBid(json(bid), { now: bid.expiresAt + 1 })).toMatchObject({ ok: false, reason: "expired" });
    const huge = new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x20);
    expect(decodeBid(huge, { now: now() })).toMatchObject({ ok: false, reason: "oversized" });
    const garbageCose = { ...bid, signature: { signature: "a0", key: bid.signature.key } };
    expect(decodeBid(json(garbageCose), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("binds the payload to every field but the signature", () => {
    const buyer = newBuyer();
    const a = unsignedBid(buyer);
    const hash = jobHash(a.spec);
    expect(Buffer.from(bidSigningPayload(a, hash)).toString()).toMatch(/^ntx-market bid v1 [0-9a-f]{64}$/);
    expect(Buffer.from(bidSigningPayload({ ...a, deadline: a.deadline + 1 }, hash))).not.toEqual(Buffer.from(bidSigningPayload(a, hash)));
  });
});

describe("provider messages (EIP-712, secp256k1)", () => {
  it("signs offers that ethers.verifyTypedData attributes to the provider, and verifies them without recovery", () => {
    const provider = newProvider();
    const offer = makeOffer(provider, { attributes: { tier: "gold", arch: "x86_64" } });
    const decoded = decodeOffer(json(offer), { now: now() });
    expect(decoded).toMatchObject({ ok: true });
    const { signature, ...unsigned } = offer;
    const value = {
      ...unsigned,
      providerId: `0x${unsigned.providerId}`,
      attributes: [
        { key: "arch", value: "x86_64" },
        { key: "tier", value: "gold" },
      ],
    };
    expect(TypedDataEncoder.hash(NTX_EIP712_DOMAIN, OFFER_TYPES, value)).toBe(offerDigest(offer));
    const recovered = verifyTypedData(NTX_EIP712_DOMAIN, OFFER_TYPES, value, signature);
    expect(recovered).toBe(new Wallet(provider.privateKey).address);
  });

  it("rejects an offer signed by another key, a tampered one, an unsigned and an expired one", () => {
    const provider = newProvider();
    const impostor = newProvider();
    const offer = makeOffer(provider);
    const forged = { ...makeOffer(impostor), providerId: provider.id };
    expect(decodeOffer(json(forged), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
    expect(decodeOffer(json({ ...offer, prices: { ...offer.prices, cpuCoreHour: "1" } }), { now: now() })).toMatchObject({ ok: false, reason: "bad_signature" });
    const { signature: _s, ...unsigned } = offer;
    expect(decodeOffer(json(unsigned), { now: now() })).toMatchObject({ ok: false, reason: "unsigned" });
    expect(decodeOffer(json(offer), { now: offer.expiresAt })).toMatchObject({ ok: false, reason: "expired" });
  });

  it("verifies provider confirmations", () => {
    const provider = newProvider();
    const confirm = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: `${"ab".repeat(32)}-1`, jobHash: "ab".repeat(32), providerId: provider.id, confirmedAt: now() });
    expect(decodeProviderConfirm(json(confirm))).toMatchObject({ ok: true });
    expect(decodeProviderConfirm(json({ ...confirm, matchId: `${"ab".repeat(32)}-2` }))).toMatchObject({ ok: false, reason: "bad_signature" });
  });
});
