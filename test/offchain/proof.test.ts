import { blake2b } from "@noble/hashes/blake2b";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils";
import { Wallet, verifyTypedData } from "ethers";
import { describe, expect, it } from "vitest";
import {
  COMPLETION_PROOF_TYPES,
  NTX_EIP712_DOMAIN,
  compressedProofKey,
  escrowRef,
  onChainSignature,
  payoutTag,
  signCompletionProof,
  verifyCompletionProof,
} from "../../offchain/index.js";
import { randomHex } from "../helpers/emulator.js";

describe("completion proofs", () => {
  const wallet = Wallet.createRandom();
  const fields = () => ({ escrowRef: randomHex(32), jobHash: randomHex(32), resultHash: randomHex(32) });

  it("signs EIP-712 typed data that ethers (and so EVM ecrecover) verifies", async () => {
    const f = fields();
    const signature = await signCompletionProof(wallet, f);
    expect(signature).toMatch(/^[0-9a-f]{130}$/);
    const value = { escrowRef: `0x${f.escrowRef}`, jobHash: `0x${f.jobHash}`, resultHash: `0x${f.resultHash}` };
    expect(verifyTypedData(NTX_EIP712_DOMAIN, COMPLETION_PROOF_TYPES, value, `0x${signature}`)).toBe(wallet.address);
    const key = compressedProofKey(wallet.signingKey);
    expect(key).toMatch(/^0[23][0-9a-f]{64}$/);
    expect(verifyCompletionProof(f, signature, key)).toBe(true);
    expect(verifyCompletionProof(f, onChainSignature(signature), key)).toBe(true);
  });

  it("rejects a proof over other fields or by another key", async () => {
    const f = fields();
    const signature = await signCompletionProof(wallet, f);
    const key = compressedProofKey(wallet.signingKey);
    expect(verifyCompletionProof({ ...f, resultHash: randomHex(32) }, signature, key)).toBe(false);
    expect(verifyCompletionProof({ ...f, jobHash: randomHex(32) }, signature, key)).toBe(false);
    expect(verifyCompletionProof({ ...f, escrowRef: randomHex(32) }, signature, key)).toBe(false);
    expect(verifyCompletionProof(f, signature, compressedProofKey(Wallet.createRandom().signingKey))).toBe(false);
    expect(verifyCompletionProof(f, "00", key)).toBe(false);
  });

  it("derives escrowRef as blake2b-256 of the Plutus serialisation of the out-ref (same bytes Lucid encodes)", () => {
    for (const outputIndex of [0, 1, 23, 24, 255, 256, 70_000]) {
      const outRef = { txHash: randomHex(32), outputIndex };
      expect(escrowRef(outRef)).toBe(bytesToHex(blake2b(hexToBytes(payoutTag(outRef)), { dkLen: 32 })));
    }
    expect(() => escrowRef({ txHash: "zz", outputIndex: 0 })).toThrow(expect.objectContaining({ code: "INVALID_OUT_REF" }));
  });

  it("refuses a signature of the wrong length for the chain", () => {
    expect(() => onChainSignature("ab".repeat(10))).toThrow(expect.objectContaining({ code: "INVALID_SIGNATURE" }));
  });
});
