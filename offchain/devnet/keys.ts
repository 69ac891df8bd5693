import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generatePrivateKey } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";

/**
 * The devnet's own keys, kept beside the state file: the faucet's wallet key and the key of the native-script
 * policy that mints devnet NTX. Owner-only (0600): whoever reads them can mint devnet NTX.
 */
export interface DevnetKeys {
  faucetKey: string;
  ntxPolicyKey: string;
}

export async function loadOrCreateKeys(stateDir: string, mustExist: boolean): Promise<DevnetKeys> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return {
    faucetKey: await loadOrCreateKey(join(stateDir, "faucet.skey"), mustExist),
    ntxPolicyKey: await loadOrCreateKey(join(stateDir, "ntx-policy.skey"), mustExist),
  };
}

async function loadOrCreateKey(path: string, mustExist: boolean): Promise<string> {
  try {
    const key = (await readFile(path, "utf8")).trim();
    if (!key.startsWith("ed25519_sk")) throw new NtxError("DEVNET_KEY_INVALID", `${path} does not hold an ed25519_sk… key`);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (mustExist) {
    throw new NtxError("DEVNET_KEY_MISSING", `the devnet state exists but ${path} is missing: without it the devnet NTX policy and faucet change; restore the key or start a fresh chain in another state dir`);
  }
  const key = generatePrivateKey();
  // wx: two servers racing on the same fresh dir must not overwrite each other's key.
  await writeFile(path, key + "\n", { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  return key;
}
