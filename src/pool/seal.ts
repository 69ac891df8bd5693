import { createCipheriv, createDecipheriv, createECDH, hkdfSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";
import { blake2b256 } from "../crypto/sodium.js";
import { ed25519Verify } from "../crypto/sodium.js";
import { canonicalJson } from "../market/job-hash.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "../market/cose.js";

/**
 * Block-producer secrets (KES key, VRF key, operational certificate) sealed by the operator's CLI to the
 * provider's key, the secp256k1 key that is its id in every signed offer: ECIES with an ephemeral secp256k1 key,
 * HKDF-SHA256 over the shared point, ChaCha20-Poly1305 with the job and the file names as associated data. The
 * bundle is signed with the bid's buyer key (Ed25519), so only the buyer of the job can replace the keys a
 * producer runs with. Only the provider's proof key opens it; the provider opens it into a tmpfs (never a disk).
 * Cold keys are never part of it.
 */

export const SEAL_ALG = "secp256k1-hkdf-sha256-chacha20poly1305";
const INFO = Buffer.from("ntx-pool-seal-v1");
const MAX_PLAINTEXT = 256 * 1024;
const hexOf = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

export const SealedBundle = z
  .object({
    v: z.literal(1),
    alg: z.literal(SEAL_ALG),
    jobHash: hexOf(32),
    providerId: z.string().regex(/^0[23][0-9a-f]{64}$/),
    /** When the operator sealed it: a provider keeps only the newest (a KES rotation replaces older bundles). */
    sealedAt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    names: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/)).min(1).max(8),
    epk: z.string().regex(/^0[23][0-9a-f]{64}$/),
    nonce: hexOf(12),
    ciphertext: z.string().regex(/^[A-Za-z0-9+/]{1,400000}={0,2}$/),
    tag: hexOf(16),
    buyerKey: hexOf(32),
    signature: hexOf(64),
  })
  .strict();
export type SealedBundle = z.infer<typeof SealedBundle>;

function aad(bundle: Pick<SealedBundle, "jobHash" | "providerId" | "names" | "sealedAt">): Buffer {
  return Buffer.from(canonicalJson({ jobHash: bundle.jobHash, providerId: bundle.providerId, names: bundle.names, sealedAt: bundle.sealedAt }));
}

function keyOf(shared: Buffer, epk: Buffer, providerId: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([epk, providerId]), INFO, 32));
}

/** What the buyer signs: everything but the signature, canonical JSON, blake2b-256. */
function signedDigest(bundle: Omit<SealedBundle, "signature">): Uint8Array {
  return blake2b256(canonicalJson(bundle));
}

/** Plaintext framing: per file a 1-byte name index and a 4-byte big-endian length, then the bytes. */
function frame(names: readonly string[], files: Record<string, Uint8Array>): Buffer {
  const parts: Buffer[] = [];
  names.forEach((name, i) => {
    const data = Buffer.from(files[name]!);
    const head = Buffer.alloc(5);
    head.writeUInt8(i, 0);
    head.writeUInt32BE(data.length, 1);
    parts.push(head, data);
  });
  return Buffer.concat(parts);
}

function unframe(names: readonly string[], plain: Buffer): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  let at = 0;
  while (at < plain.length) {
    if (at + 5 > plain.length) throw new NtxError("SEAL_INVALID", "truncated sealed bundle");
    const index = plain.readUInt8(at);
    const length = plain.readUInt32BE(at + 1);
    const name = names[index];
    if (name === undefined || name in files || at + 5 + length > plain.length) throw new NtxError("SEAL_INVALID", "malformed sealed bundle");
    files[name] = new Uint8Array(plain.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  if (Object.keys(files).length !== names.length) throw new NtxError("SEAL_INVALID", "sealed bundle lacks a named file");
  return files;
}

export interface SealParams {
  providerId: string;
  jobHash: string;
  files: Record<string, Uint8Array>;
  /** The bid's buyer key: the 32-byte Ed25519 seed. */
  buyerSeed: Uint8Array | KeyObject;
  sealedAt?: number;
}

export function sealToProvider(params: SealParams): SealedBundle {
  const names = Object.keys(params.files).sort();
  const plain = frame(names, params.files);
  if (plain.length > MAX_PLAINTEXT) throw new NtxError("SEAL_INVALID", "secrets over 256 KiB");
  const providerKey = Buffer.from(params.providerId, "hex");
  const eph = createECDH("secp256k1");
  eph.generateKeys();
  const epk = eph.getPublicKey(undefined, "compressed");
  let shared: Buffer;
  try {
    shared = eph.computeSecret(providerKey);
  } catch (error) {
    throw new NtxError("SEAL_INVALID", "the provider id is not a secp256k1 public key", { cause: error });
  }
  const key = keyOf(shared, epk, providerKey);
  const nonce = randomBytes(12);
  const head = { v: 1 as const, alg: SEAL_ALG as typeof SEAL_ALG, jobHash: params.jobHash, providerId: params.providerId, sealedAt: params.sealedAt ?? Date.now(), names };
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad(head), { plaintextLength: plain.length });
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  const privateKey = params.buyerSeed instanceof Uint8Array ? ed25519PrivateKeyObject(params.buyerSeed) : params.buyerSeed;
  const unsigned = { ...head, epk: epk.toString("hex"), nonce: nonce.toString("hex"), ciphertext: ciphertext.toString("base64"), tag: cipher.getAuthTag().toString("hex"), buyerKey: Buffer.from(ed25519RawPublicKey(privateKey)).toString("hex") };
  const signature = sign(null, signedDigest(unsigned), privateKey).toString("hex");
  return SealedBundle.parse({ ...unsigned, signature });
}

export interface OpenParams {
  /** 0x-prefixed or bare 32-byte hex secp256k1 private key (the provider's proof key). */
  providerPrivateKey: string;
  providerId: string;
  jobHash: string;
  /** The bid's buyer key: only a bundle signed by it is opened. */
  buyerKey: string;
  /** Names the service spec asks for: exactly these, or nothing. */
  names: readonly string[];
}

/** Opens a bundle into memory (the caller writes it to a tmpfs only). Never throws but NtxError SEAL_*. */
export function openSealed(input: unknown, params: OpenParams): { files: Record<string, Uint8Array>; sealedAt: number } {
  const parsed = SealedBundle.safeParse(input);
  if (!parsed.success) throw new NtxError("SEAL_INVALID", `not a sealed bundle: ${parsed.error.issues[0]?.message ?? "?"}`);
  const bundle = parsed.data;
  if (bundle.jobHash !== params.jobHash || bundle.providerId !== params.providerId) throw new NtxError("SEAL_WRONG_TARGET", "the bundle is sealed for another job or provider");
  if (bundle.buyerKey !== params.buyerKey) throw new NtxError("SEAL_WRONG_SIGNER", "the bundle is not signed by the job's buyer");
  const { signature, ...unsigned } = bundle;
  if (!ed25519Verify(Buffer.from(signature, "hex"), signedDigest(unsigned), Buffer.from(bundle.buyerKey, "hex"))) throw new NtxError("SEAL_WRONG_SIGNER", "bad buyer signature on the bundle");
  if ([...bundle.names].sort().join(",") !== [...params.names].sort().join(",")) throw new NtxError("SEAL_INVALID", `the bundle holds ${bundle.names.join(", ")}; the service needs ${params.names.join(", ")}`);
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(Buffer.from(params.providerPrivateKey.replace(/^0x/, ""), "hex"));
  let plain: Buffer;
  try {
    const epk = Buffer.from(bundle.epk, "hex");
    const key = keyOf(ecdh.computeSecret(epk), epk, Buffer.from(bundle.providerId, "hex"));
    const ciphertext = Buffer.from(bundle.ciphertext, "base64");
    const decipher = createDecipheriv("chacha20-poly1305", key, Buffer.from(bundle.nonce, "hex"), { authTagLength: 16 });
    decipher.setAAD(aad(bundle), { plaintextLength: ciphertext.length });
    decipher.setAuthTag(Buffer.from(bundle.tag, "hex"));
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (error) {
    throw new NtxError("SEAL_INVALID", "the bundle does not open with this provider's key", { cause: error });
  }
  try {
    return { files: unframe(bundle.names, plain), sealedAt: bundle.sealedAt };
  } finally {
    plain.fill(0);
  }
}
