/**
 * The EIP-712 domain shared by every ntx-market signature made with a secp256k1 key: provider offers and
 * confirmations (src/market) and completion proofs (checked on-chain by the escrow). No chainId or verifying
 * contract: the messages are bound to their escrow or market by their own fields, and the same signature must
 * verify on Cardano, off-chain and on any EVM chain alike.
 */
export const NTX_EIP712_DOMAIN = { name: "ntx-market", version: "1" } as const;
