/**
 * CIP-8 message signing through Lucid (CML's message-signing code, the same the CIP-30 wallets use). The market
 * verifies bids with its own node:crypto path (src/market/cose.ts) for speed; this module is the independent
 * reference that path is tested against, in both directions, and lets other areas sign like a wallet would.
 */
import { CML, credentialToAddress, signData, verifyData, type Network } from "@lucid-evolution/lucid";

export interface WalletDataSignature {
  /** COSE_Sign1, CBOR hex */
  signature: string;
  /** COSE_Key, CBOR hex */
  key: string;
}

/** The enterprise (payment-key only) address of an Ed25519 seed, bech32 and raw hex, with its key hash. */
export function addressOfSeed(seed: Uint8Array, network: Network = "Preview"): { bech32: string; hex: string; keyHash: string } {
  const privateKey = CML.PrivateKey.from_normal_bytes(seed);
  const keyHash = privateKey.to_public().hash().to_hex();
  const bech32 = credentialToAddress(network, { type: "Key", hash: keyHash });
  const hex = CML.Address.from_bech32(bech32).to_hex();
  return { bech32, hex, keyHash };
}

/** What a CIP-30 wallet returns from `signData(addressHex, payloadHex)`, made with Lucid from a raw seed. */
export function walletSignData(seed: Uint8Array, addressHex: string, payloadHex: string): WalletDataSignature {
  const bech32Key = CML.PrivateKey.from_normal_bytes(seed).to_bech32();
  return signData(addressHex, payloadHex, bech32Key);
}

export function walletVerifyData(addressHex: string, keyHash: string, payloadHex: string, signed: WalletDataSignature): boolean {
  return verifyData(addressHex, keyHash, payloadHex, signed);
}
