import { applyDoubleCborEncoding, applyParamsToScript, validatorToAddress, validatorToRewardAddress, validatorToScriptHash } from "@lucid-evolution/lucid";
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
  /**
   * The batch script (escrow_batch.withdraw applied to the same NTX asset; the escrow is applied to its hash) and its
   * reward address: batches withdraw 0 from it, so its stake credential is registered once per network.
   */
  batch: { script: Script; hash: string };
  rewardAddress: string;
  network: Network;
}

const escrowBlueprint = blueprint.validators.find((v) => v.title === "escrow.spend");
const batchBlueprint = blueprint.validators.find((v) => v.title === "escrow_batch.withdraw");

/**
 * Applies the NTX policy id and asset name (as Plutus bytes, in blueprint order) to the batch validator, then those
 * and the batch script's hash to the escrow validator.
 */
export function escrowScript(ntx: NtxAsset, network: Network): EscrowScript {
  if (!escrowBlueprint || !batchBlueprint) throw new NtxError("BLUEPRINT_INVALID", "contracts/plutus.json lacks escrow.spend or escrow_batch.withdraw");
  const asset = ntxAssetSchema.parse(ntx);
  const batchScript: Script = {
    type: "PlutusV3",
    script: applyParamsToScript(applyDoubleCborEncoding(batchBlueprint.compiledCode), [asset.policyId, asset.assetName]),
  };
  const batchHash = validatorToScriptHash(batchScript);
  const script: Script = {
    type: "PlutusV3",
    script: applyParamsToScript(applyDoubleCborEncoding(escrowBlueprint.compiledCode), [asset.policyId, asset.assetName, batchHash]),
  };
  return {
    ntx: asset,
    script,
    hash: validatorToScriptHash(script),
    address: validatorToAddress(network, script),
    batch: { script: batchScript, hash: batchHash },
    rewardAddress: validatorToRewardAddress(network, batchScript),
    network,
  };
}

/** The escrow script for the network `lucid` is configured with. */
export function escrowScriptFor(lucid: LucidEvolution, ntx: NtxAsset): EscrowScript {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return escrowScript(ntx, network);
}
