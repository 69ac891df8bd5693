export { addressOfPrivateKey, newPrivateKey, paymentCredentialOfAddress, paymentKeyHashOfPrivateKey, scriptAddress } from "./addresses.js";
export { createChain } from "./blockfrost-chain.js";
export { chainError } from "./chain-errors.js";
export { ChainConfigSchema, ChainNetworkSchema, DEFAULT_BLOCKFROST_URLS, DEFAULT_DEVNET_CHAIN_PORT, loadChainConfig } from "./config.js";
export type { ChainConfig, ChainConfigInput, ChainNetwork } from "./config.js";
export { DevnetInfoSchema, fetchDevnetInfo, produceDevnetBlock, requestDevnetFunds } from "./devnet-client.js";
export type { DevnetInfo } from "./devnet-client.js";
export type { AwaitOptions, Chain, ChainTip, ChainWallet, LucidEvolution, Payout, Script, SlotConfig, TxStatus, UTxO } from "./types.js";
