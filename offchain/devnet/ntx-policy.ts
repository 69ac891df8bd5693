import { CML, credentialToAddress, mintingPolicyToId, scriptFromNative } from "@lucid-evolution/lucid";
import type { Script } from "@lucid-evolution/lucid";

/** Devnet NTX: minted under a native script `sig(policy key)`, asset name "NTX" (hex 4e5458) as on mainnet. */
export const NTX_ASSET_NAME_HEX = "4e5458";

export interface DevnetNtxPolicy {
  script: Script;
  policyId: string;
  keyHash: string;
  unit: string;
}

export function keyHashOf(privateKey: string): string {
  return CML.PrivateKey.from_bech32(privateKey).to_public().hash().to_hex();
}

export function devnetAddressOf(privateKey: string): string {
  return credentialToAddress("Custom", { type: "Key", hash: keyHashOf(privateKey) });
}

export function devnetNtxPolicy(policyKey: string): DevnetNtxPolicy {
  const keyHash = keyHashOf(policyKey);
  const script = scriptFromNative({ type: "sig", keyHash });
  const policyId = mintingPolicyToId(script);
  return { script, policyId, keyHash, unit: policyId + NTX_ASSET_NAME_HEX };
}
