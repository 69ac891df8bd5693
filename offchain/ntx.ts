import { z } from "zod/v4";
import { NtxError } from "./errors.js";

/** The networks ntx-market runs on. Each has its own NTX asset, hence its own escrow script hash. */
export const NETWORKS = ["devnet", "preview", "preprod", "mainnet"] as const;
export type NtxNetwork = (typeof NETWORKS)[number];

export interface NtxAsset {
  /** 28-byte minting policy id, lowercase hex. */
  policyId: string;
  /** Asset name, lowercase hex (NTX = 4e5458). */
  assetName: string;
}

/** NuNet's NTX on mainnet. Display decimals are config, not part of the asset. */
export const MAINNET_NTX: NtxAsset = Object.freeze({
  policyId: "edfd7a1d77bcb8b884c474bdc92a16002d1fb720e454fa6e99344479",
  assetName: "4e5458",
});

export const ntxAssetSchema = z.object({
  policyId: z.string().regex(/^[0-9a-f]{56}$/, "policy id must be 28 bytes of lowercase hex"),
  assetName: z.string().regex(/^([0-9a-f]{2}){0,32}$/, "asset name must be at most 32 bytes of lowercase hex"),
});

/**
 * The NTX asset of a network. Devnet mints its own test NTX and testnets use whatever the operator configures,
 * so those need `configured`; mainnet defaults to NuNet's token and accepts an override only if it is valid.
 */
export function ntxAsset(network: NtxNetwork, configured?: Partial<NtxAsset>): NtxAsset {
  if (!NETWORKS.includes(network)) throw new NtxError("UNKNOWN_NETWORK", `unknown network "${String(network)}"`);
  const candidate = network === "mainnet" ? { ...MAINNET_NTX, ...configured } : configured;
  if (!candidate?.policyId || candidate.assetName === undefined) {
    throw new NtxError("NTX_ASSET_MISSING", `no NTX asset configured for ${network}: set its policy id and asset name`);
  }
  const parsed = ntxAssetSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new NtxError("INVALID_NTX_ASSET", `invalid NTX asset for ${network}: ${parsed.error.issues[0]?.message}`, {
      details: { network },
    });
  }
  return parsed.data;
}

/** Lucid's unit for an asset: policy id followed by asset name. */
export function ntxUnit(asset: NtxAsset): string {
  return asset.policyId + asset.assetName;
}

/** Lucid's name for each network (the devnet runs Lucid's Emulator, which Lucid calls "Custom"). */
export const LUCID_NETWORK = { devnet: "Custom", preview: "Preview", preprod: "Preprod", mainnet: "Mainnet" } as const;
