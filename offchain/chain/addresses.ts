import { CML, credentialToAddress, generatePrivateKey, getAddressDetails, validatorToAddress } from "@lucid-evolution/lucid";
import type { Network, Script } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { ChainNetwork } from "./config.js";

/** Keys and addresses per ntx network, so code outside offchain/ never needs Lucid's network names. */
const LUCID_NETWORK: Record<ChainNetwork, Network> = { devnet: "Custom", preview: "Preview", preprod: "Preprod", mainnet: "Mainnet" };

/** A fresh ed25519 payment key (bech32 `ed25519_sk…`). */
export function newPrivateKey(): string {
  return generatePrivateKey();
}

export function paymentKeyHashOfPrivateKey(privateKey: string): string {
  try {
    return CML.PrivateKey.from_bech32(privateKey).to_public().hash().to_hex();
  } catch (error) {
    throw new NtxError("CHAIN_BAD_KEY", "not an ed25519 private key in bech32 (ed25519_sk…)", { cause: error });
  }
}

/** The enterprise (no stake part) address of a payment key. */
export function addressOfPrivateKey(privateKey: string, network: ChainNetwork): string {
  return credentialToAddress(LUCID_NETWORK[network], { type: "Key", hash: paymentKeyHashOfPrivateKey(privateKey) });
}

export function scriptAddress(script: Script, network: ChainNetwork): string {
  return validatorToAddress(LUCID_NETWORK[network], script);
}

/** The payment credential of an address, or a CHAIN_BAD_ADDRESS error. */
export function paymentCredentialOfAddress(address: string): { type: "Key" | "Script"; hash: string } {
  try {
    const credential = getAddressDetails(address).paymentCredential;
    if (credential) return credential;
  } catch {
    // fall through to the error below
  }
  throw new NtxError("CHAIN_BAD_ADDRESS", `not a Cardano payment address: ${address}`);
}
