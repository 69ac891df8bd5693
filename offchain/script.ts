import { applyDoubleCborEncoding, applyParamsToScript, validatorToAddress, validatorToScriptHash } from "@lucid-evolution/lucid";
import type { LucidEvolution, Network, Script } from "@lucid-evolution/lucid";
import blueprint from "../contracts/plutus.json" with { type: "json" };
import { NtxError } from "./errors.js";
import { ntxAssetSchema, type NtxAsset } from "./ntx.js";

/** The escrow validator applied to one NTX asset: what every builder needs to find and spend escrows. */
export interface EscrowScript {
  ntx: NtxAsset;
  script: Script;
  /** Script hash, lowercase hex. */
  hash: string;
  /** Enterprise address of the script on `network`. */
  address: string;
  network: Network;
}

const escrowBlueprint = blueprint.validators.find((v) => v.title === "escrow.spend");

/** Applies the NTX policy id and asset name (as Plutus bytes, in blueprint order) to the unapplied validator. */
export function escrowScript(ntx: NtxAsset, network: Network): EscrowScript {
  if (!escrowBlueprint) throw new NtxError("BLUEPRINT_INVALID", "contracts/plutus.json has no escrow.spend validator");
  const asset = ntxAssetSchema.parse(ntx);
  const script: Script = {
    type: "PlutusV3",
    script: applyParamsToScript(applyDoubleCborEncoding(escrowBlueprint.compiledCode), [asset.policyId, asset.assetName]),
  };
  return { ntx: asset, script, hash: validatorToScriptHash(script), address: validatorToAddress(network, script), network };
}

/** The escrow script for the network `lucid` is configured with. */
export function escrowScriptFor(lucid: LucidEvolution, ntx: NtxAsset): EscrowScript {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return escrowScript(ntx, network);
}
