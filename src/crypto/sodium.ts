/**
 * Native hashing and Ed25519 verification from libsodium (sodium-native ships it prebuilt, so nothing is
 * compiled at install). The bid hot path hashes twice and verifies once per bid: libsodium's Ed25519 verify is
 * about twice OpenSSL 3's here, and its blake2b about twenty times the pure-JS one. libsodium is also what
 * Cardano nodes verify Ed25519 with, so it refuses the same non-canonical and small-order inputs they do.
 *
 * The only importer of sodium-native; its typings live beside it in sodium-native.d.ts.
 */
import sodium from "sodium-native";
import { asBuffer } from "./bytes.js";

/** blake2b with a digest of `bytes` (16 to 64): 32 for hashes here, 28 for Cardano key hashes. */
export function blake2b(data: Uint8Array, bytes: number): Uint8Array {
  const out = Buffer.alloc(bytes);
  sodium.crypto_generichash(out, asBuffer(data));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function blake2b256(data: Uint8Array | string): Uint8Array {
  return blake2b(typeof data === "string" ? Buffer.from(data, "utf8") : data, 32);
}

/** Where blake2b256Hex writes before it turns the digest into text: the hex is the result, so one buffer serves every call. */
const hexScratch = Buffer.alloc(32);

export function blake2b256Hex(data: Uint8Array | string): string {
  sodium.crypto_generichash(hexScratch, typeof data === "string" ? Buffer.from(data, "utf8") : asBuffer(data));
  return hexScratch.toString("hex");
}

/** blake2b-256 over data given piece by piece (results of any size hash in constant memory). */
export class Blake2b256Stream {
  private readonly state = Buffer.alloc(sodium.crypto_generichash_STATEBYTES);

  constructor() {
    sodium.crypto_generichash_init(this.state, null, 32);
  }

  update(data: Uint8Array): void {
    sodium.crypto_generichash_update(this.state, asBuffer(data));
  }

  hex(): string {
    const out = Buffer.alloc(32);
    sodium.crypto_generichash_final(this.state, out);
    return out.toString("hex");
  }
}

/** True when `signature` is `publicKey`'s Ed25519 signature of `message`; false for any malformed input. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return sodium.crypto_sign_verify_detached(asBuffer(signature), asBuffer(message), asBuffer(publicKey));
}
