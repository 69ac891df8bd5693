/**
 * CIP-8 / CIP-30 `signData` messages: a COSE_Sign1 (RFC 9052) made with an Ed25519 key and the COSE_Key
 * holding that key. Browser wallets return `{ signature, key }` as CBOR hex; the CLI builds the very same
 * structure from a key file, so both go through one verification path: libsodium's (src/crypto/sodium.ts).
 * Signing (the CLI key) stays with node:crypto KeyObjects.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { NtxError } from "../../offchain/errors.js";
import { blake2b, ed25519Verify } from "../crypto/sodium.js";
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from "./cbor.js";

const ALG_EDDSA = -8;
// DER prefix that turns a raw 32-byte Ed25519 seed into PKCS#8 for node:crypto.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface CoseSign1 {
  protectedBytes: Uint8Array;
  protectedHeader: CborMap;
  payload: Uint8Array;
  signature: Uint8Array;
  /** The address the wallet put in the protected header (CIP-8), raw bytes. */
  address?: Uint8Array;
}

function bad(message: string): NtxError {
  return new NtxError("MARKET_BAD_SIGNATURE", message);
}

export function parseCoseSign1(bytes: Uint8Array): CoseSign1 {
  const top = decodeCbor(bytes);
  if (!Array.isArray(top) || top.length !== 4) throw bad("COSE_Sign1 is not a 4-element array");
  const [protectedBytes, unprotected, payload, signature] = top;
  if (!(protectedBytes instanceof Uint8Array) || !(unprotected instanceof Map) || !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
    throw bad("COSE_Sign1 has the wrong field types (detached payloads are not accepted)");
  }
  const protectedHeader = protectedBytes.length === 0 ? new Map() : decodeCbor(protectedBytes);
  if (!(protectedHeader instanceof Map)) throw bad("COSE protected header is not a map");
  if (protectedHeader.get(1) !== ALG_EDDSA) throw bad("COSE_Sign1 algorithm is not EdDSA (-8)");
  // CIP-8 `hashed: true` signs blake2b-224 of the payload; wallets of CIP-30 use false and so do we.
  if (unprotected.get("hashed") === true) throw bad("hashed COSE payloads are not accepted");
  if (signature.length !== 64) throw bad("Ed25519 signature is not 64 bytes");
  const address = protectedHeader.get("address");
  const out: CoseSign1 = { protectedBytes, protectedHeader, payload, signature };
  if (address instanceof Uint8Array) out.address = address;
  return out;
}

/** The Ed25519 public key of a COSE_Key (kty OKP, crv Ed25519). */
export function parseCoseKey(bytes: Uint8Array): Uint8Array {
  const key = decodeCbor(bytes);
  if (!(key instanceof Map)) throw bad("COSE_Key is not a map");
  if (key.get(1) !== 1) throw bad("COSE_Key kty is not OKP");
  const alg = key.get(3);
  if (alg !== undefined && alg !== ALG_EDDSA) throw bad("COSE_Key alg is not EdDSA");
  if (key.get(-1) !== 6) throw bad("COSE_Key curve is not Ed25519");
  const x = key.get(-2);
  if (!(x instanceof Uint8Array) || x.length !== 32) throw bad("COSE_Key has no 32-byte Ed25519 key");
  return x;
}

/** Sig_structure = ["Signature1", protected, external_aad = h'', payload]. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(["Signature1", protectedBytes, new Uint8Array(0), payload]);
}

export function ed25519PrivateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new NtxError("MARKET_BAD_KEY", "an Ed25519 signing key is a 32-byte seed");
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

export function ed25519RawPublicKey(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** blake2b-224 of the key: the payment key hash of a Cardano address. */
export function paymentKeyHash(publicKey: Uint8Array): Uint8Array {
  return blake2b(publicKey, 28);
}

/**
 * Checks a CIP-8 signature over `expectedPayload` by `expectedKey` (raw 32 bytes). When the wallet put an
 * address in the protected header, its payment credential must be that key's hash (a key-hash address), so a
 * bid cannot claim an address its key does not control. Throws MARKET_BAD_SIGNATURE.
 */
export function verifyDataSignature(sig: { signature: Uint8Array; key: Uint8Array }, expectedPayload: Uint8Array, expectedKey: Uint8Array, expectedAddress?: Uint8Array): void {
  const cose = parseCoseSign1(sig.signature);
  const key = parseCoseKey(sig.key);
  if (!Buffer.from(key).equals(Buffer.from(expectedKey))) throw bad("COSE_Key is not the bid's buyer key");
  if (!Buffer.from(cose.payload).equals(Buffer.from(expectedPayload))) throw bad("signed payload is not this bid");
  if (cose.address) {
    const kind = cose.address[0]! >> 4;
    // Header types 0, 2, 4, 6 have a key-hash payment credential in bytes 1..28.
    if (kind > 7 || kind % 2 !== 0 || cose.address.length < 29) throw bad("signing address has no payment key hash");
    if (!Buffer.from(cose.address.subarray(1, 29)).equals(Buffer.from(paymentKeyHash(key)))) throw bad("signing address is not the signing key's");
    if (expectedAddress && !Buffer.from(cose.address).equals(Buffer.from(expectedAddress))) throw bad("signing address is not the bid's buyer address");
  } else if (expectedAddress) {
    throw bad("bid names a buyer address but the signature does not");
  }
  if (!ed25519Verify(cose.signature, sigStructure(cose.protectedBytes, cose.payload), key)) throw bad("Ed25519 signature does not verify");
}

/** What a CIP-30 wallet's signData returns, made from a local Ed25519 key (the CLI key). */
export function signData(privateKey: KeyObject, payload: Uint8Array, address?: Uint8Array): { signature: Uint8Array; key: Uint8Array } {
  const protectedHeader: CborMap = new Map<number | string, CborValue>([[1, ALG_EDDSA]]);
  if (address) protectedHeader.set("address", address);
  const protectedBytes = encodeCbor(protectedHeader);
  const signature = sign(null, sigStructure(protectedBytes, payload), privateKey);
  const publicKey = ed25519RawPublicKey(privateKey);
  const unprotected: CborMap = new Map<number | string, CborValue>([["hashed", false]]);
  const coseSign1 = encodeCbor([protectedBytes, unprotected, payload, new Uint8Array(signature)]);
  const coseKey = encodeCbor(
    new Map<number, number | Uint8Array>([
      [1, 1],
      [3, ALG_EDDSA],
      [-1, 6],
      [-2, publicKey],
    ]),
  );
  return { signature: coseSign1, key: coseKey };
}
