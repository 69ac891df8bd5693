import { applyDoubleCborEncoding, validatorToAddress, validatorToScriptHash } from "@lucid-evolution/lucid";
import type { LucidEvolution, Network, Script } from "@lucid-evolution/lucid";
import blueprint from "../contracts/plutus.json" with { type: "json" };
import { NtxError } from "./errors.js";

/** The lease validator (lease.spend of contracts/plutus.json; it takes no parameters: each datum names its asset). */
export interface LeaseScript {
  script: Script;
  hash: string;
  /** Enterprise address of the script on `network`: every lease of every asset lives here. */
  address: string;
  network: Network;
}

const leaseBlueprint = blueprint.validators.find((v) => v.title === "lease.spend");

export function leaseScript(network: Network): LeaseScript {
  if (!leaseBlueprint) throw new NtxError("BLUEPRINT_INVALID", "contracts/plutus.json lacks lease.spend");
  const script: Script = { type: "PlutusV3", script: applyDoubleCborEncoding(leaseBlueprint.compiledCode) };
  return { script, hash: validatorToScriptHash(script), address: validatorToAddress(network, script), network };
}

export function leaseScriptFor(lucid: LucidEvolution): LeaseScript {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return leaseScript(network);
}
