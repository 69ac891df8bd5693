import { constants } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { SigningKey, Wallet, hexlify, randomBytes } from "ethers";
import { NtxError } from "../../offchain/errors.js";

/**
 * Secret key files. A key another local user can read is as good as published, so a file with any group or
 * world permission bit is refused rather than "fixed": the operator has to notice.
 */

export async function readSecretFile(path: string, what: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    throw new NtxError("KEY_FILE_MISSING", `${what} file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if ((mode & 0o077) !== 0) {
    throw new NtxError("KEY_FILE_INSECURE", `${what} file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`, { details: { path } });
  }
  return (await readFile(path, "utf8")).trim();
}

export interface ProofKey {
  /** 0x-prefixed 32-byte private key, for ethers. */
  privateKey: string;
  /** 33-byte compressed public key, lowercase hex without 0x: the provider id and the datum's proof key. */
  providerId: string;
  /** EVM address of the key (what `ecrecover` yields on an EVM chain). */
  address: string;
  signingKey: SigningKey;
}

export function proofKeyFromHex(hex: string): ProofKey {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]{64}$/.test(clean)) throw new NtxError("KEY_INVALID", "a proof key is 32 bytes of hex");
  const signingKey = new SigningKey(`0x${clean.toLowerCase()}`);
  return {
    privateKey: signingKey.privateKey,
    providerId: signingKey.compressedPublicKey.slice(2),
    address: new Wallet(signingKey.privateKey).address,
    signingKey,
  };
}

export async function loadProofKey(path: string): Promise<ProofKey> {
  return proofKeyFromHex(await readSecretFile(path, "proof key"));
}

/** Cardano payment signing key as Lucid takes it (bech32 `ed25519_sk1…`/`ed25519e_sk1…`), from a 0600 file. */
export async function loadPaymentKey(path: string): Promise<string> {
  const key = await readSecretFile(path, "payment key");
  if (!/^ed25519e?_sk1[02-9ac-hj-np-z]+$/.test(key)) throw new NtxError("KEY_INVALID", `payment key file ${path} does not hold a bech32 ed25519_sk key`);
  return key;
}

/** Writes a secret file created with mode 0600 (never widened, never overwritten). */
export async function writeSecretFile(path: string, content: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    throw new NtxError("KEY_FILE_EXISTS", `cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    await handle.writeFile(`${content}\n`);
  } finally {
    await handle.close();
  }
}

export async function generateProofKeyFile(path: string): Promise<ProofKey> {
  const hex = hexlify(randomBytes(32));
  await writeSecretFile(path, hex);
  return proofKeyFromHex(hex);
}
