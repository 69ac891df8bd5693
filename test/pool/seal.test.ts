import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { SigningKey } from "ethers";
import { describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { encodeCbor } from "../../src/market/cbor.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "../../src/market/cose.js";
import { kesStatus, readOpCert, SLOTS_PER_KES_PERIOD } from "../../src/pool/kes.js";
import { openSealed, sealToProvider } from "../../src/pool/seal.js";

/** Sealed producer keys: only the provider's key opens them, only the buyer's signature is accepted, nothing tampered opens. */

const providerKey = new SigningKey(`0x${randomBytes(32).toString("hex")}`);
const providerId = providerKey.compressedPublicKey.slice(2);
const buyerSeed = new Uint8Array(randomBytes(32));
const buyerKey = Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(buyerSeed))).toString("hex");
const jobHash = randomBytes(32).toString("hex");
const files = { "kes.skey": new Uint8Array(randomBytes(608)), "vrf.skey": new Uint8Array(randomBytes(64)), "node.cert": new Uint8Array(randomBytes(300)) };
const names = Object.keys(files);
const open = (bundle: unknown, over: Partial<Parameters<typeof openSealed>[1]> = {}) => openSealed(bundle, { providerPrivateKey: providerKey.privateKey, providerId, jobHash, buyerKey, names, ...over });

describe("sealed producer keys", () => {
  it("open with the provider's key into exactly the files sealed", () => {
    const bundle = sealToProvider({ providerId, jobHash, files, buyerSeed });
    const opened = open(JSON.parse(JSON.stringify(bundle)));
    for (const [name, bytes] of Object.entries(files)) expect(Buffer.from(opened.files[name]!).equals(Buffer.from(bytes))).toBe(true);
    // The bundle on the wire holds none of the key bytes.
    const wire = Buffer.from(JSON.stringify(bundle));
    for (const bytes of Object.values(files)) {
      expect(wire.includes(Buffer.from(bytes))).toBe(false);
      expect(wire.includes(Buffer.from(Buffer.from(bytes).toString("base64")))).toBe(false);
    }
  });

  it("refuse another provider, another job, another signer, and any tampered field", () => {
    const bundle = sealToProvider({ providerId, jobHash, files, buyerSeed });
    const other = new SigningKey(`0x${randomBytes(32).toString("hex")}`);
    expect(() => open(bundle, { providerPrivateKey: other.privateKey })).toThrow(/does not open/);
    expect(() => open(bundle, { jobHash: randomBytes(32).toString("hex") })).toThrow(/another job/);
    expect(() => open(bundle, { buyerKey: randomBytes(32).toString("hex") })).toThrow(/not signed by the job's buyer/);
    // A stranger re-signs a bundle of its own keys with its own key: refused for the job's buyer key.
    const stranger = sealToProvider({ providerId, jobHash, files, buyerSeed: new Uint8Array(randomBytes(32)) });
    expect(() => open(stranger)).toThrow(/not signed by the job's buyer/);
    const ct = Buffer.from(bundle.ciphertext, "base64");
    ct[10]! ^= 1;
    for (const tampered of [
      { ...bundle, ciphertext: ct.toString("base64") },
      { ...bundle, names: [...bundle.names].reverse() },
      { ...bundle, sealedAt: bundle.sealedAt + 1 },
      { ...bundle, tag: "00".repeat(16) },
    ]) expect(() => open(tampered)).toThrow();
    expect(() => open(bundle, { names: ["kes.skey"] })).toThrow(/needs kes.skey/);
  });

  it("never throws anything but a coded error on arbitrary or mutated input", () => {
    const bundle = sealToProvider({ providerId, jobHash, files, buyerSeed });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ key: fc.constantFrom(...Object.keys(bundle)), value: fc.anything() }).map(({ key, value }) => ({ ...bundle, [key]: value }))), (input) => {
        try { open(input); } catch (error) { expect(isNtxError(error)).toBe(true); }
      }),
      { seed: 33, numRuns: 300 },
    );
  });
});

describe("KES expiry", () => {
  const opcert = (kesPeriod: number) => JSON.stringify({ type: "NodeOperationalCertificate", description: "", cborHex: Buffer.from(encodeCbor([[new Uint8Array(32), 3, kesPeriod, new Uint8Array(64)], new Uint8Array(32)])).toString("hex") });

  it("reads the certificate's start period and warns in its last week and a half", () => {
    const cert = readOpCert(opcert(800));
    expect(cert).toEqual({ counter: 3, kesPeriod: 800 });
    expect(kesStatus(cert, 800 * SLOTS_PER_KES_PERIOD)).toMatchObject({ remainingPeriods: 62, warn: false, expired: false });
    expect(kesStatus(cert, 855 * SLOTS_PER_KES_PERIOD)).toMatchObject({ remainingPeriods: 7, warn: true, expired: false });
    expect(kesStatus(cert, 862 * SLOTS_PER_KES_PERIOD)).toMatchObject({ remainingPeriods: 0, expired: true });
    expect(() => readOpCert("{}")).toThrow(/text envelope/);
    expect(() => readOpCert(JSON.stringify({ type: "PaymentSigningKeyShelley_ed25519", cborHex: "00" }))).toThrow(/NodeOperationalCertificate/);
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (t) => { try { readOpCert(t); } catch (e) { expect(isNtxError(e)).toBe(true); } }), { seed: 34, numRuns: 300 });
  });
});
