import { TypedDataEncoder, concat, id } from "ethers";
import { NTX_EIP712_DOMAIN } from "../offchain/eip712-domain.js";

/**
 * The EIP-712 pieces of a completion proof that do not depend on the escrow, computed once at build time and
 * baked into the validator as constants, so the script only hashes the 128-byte struct and the 66-byte message.
 */
export const COMPLETION_PROOF_TYPES = {
  CompletionProof: [
    { name: "escrowRef", type: "bytes32" },
    { name: "jobHash", type: "bytes32" },
    { name: "resultHash", type: "bytes32" },
  ],
} as const;

const TYPE_STRING = "CompletionProof(bytes32 escrowRef,bytes32 jobHash,bytes32 resultHash)";

/** keccak256 of the type string: the first word of the struct encoding. */
export function completionProofTypeHash(): string {
  return id(TYPE_STRING).slice(2);
}

/** 0x1901 ‖ domainSeparator: the 34 bytes the script prepends to the struct hash before the final keccak. */
export function eip712MessagePrefix(): string {
  return concat(["0x1901", TypedDataEncoder.hashDomain(NTX_EIP712_DOMAIN)]).slice(2);
}
