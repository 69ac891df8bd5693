import { readFileSync } from "node:fs";
import { TypedDataEncoder, id } from "ethers";
import { setImmediate as tick } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { blueprintJson, buildBlueprint, cborBytes, compileBatchFlat, compileEscrowFlat, compileLeaseFlat, plutusV3Hash } from "../../contracts/blueprint.js";
import { completionProofTypeHash, eip712MessagePrefix } from "../../contracts/eip712.js";
import { COMPLETION_PROOF_TYPES, MAINNET_NTX, NTX_EIP712_DOMAIN, escrowScript, leaseScript } from "../../offchain/index.js";

describe("escrow blueprint", () => {
  // Each compile blocks the worker for seconds (tens of seconds on a loaded machine): one at a time, with the event
  // loop free in between so the worker keeps answering the runner. Compiled once; every test below reuses them.
  beforeAll(async () => {
    for (const compile of [compileEscrowFlat, compileBatchFlat, compileLeaseFlat]) {
      compile();
      await tick();
    }
  });

  it("the committed contracts/plutus.json is what a fresh build produces (run `npm run build:contracts`)", () => {
    const committed = readFileSync(new URL("../../contracts/plutus.json", import.meta.url), "utf8");
    expect(committed).toBe(blueprintJson());
  });

  it("is a CIP-57 blueprint of an unapplied Plutus V3 validator with its parameters", () => {
    const bp = buildBlueprint();
    expect(bp.preamble.plutusVersion).toBe("v3");
    const [v, batch, lease] = bp.validators;
    expect(bp.validators).toHaveLength(3);
    expect(lease!.title).toBe("lease.spend");
    expect(lease!.parameters).toEqual([]);
    expect(lease!.hash).toBe(plutusV3Hash(cborBytes(compileLeaseFlat())));
    // Unparameterized: the blueprint's hash is the script's hash on every network.
    expect(leaseScript("Mainnet").hash).toBe(lease!.hash);
    for (const schema of [lease!.datum!.schema, lease!.redeemer.schema]) {
      expect(Object.keys(bp.definitions)).toContain(schema.$ref.replace("#/definitions/", ""));
    }
    expect(v!.title).toBe("escrow.spend");
    expect(v!.parameters.map((p) => p.title)).toEqual(["ntxPolicy", "ntxName", "batchHash"]);
    expect(v!.hash).toBe(plutusV3Hash(cborBytes(compileEscrowFlat())));
    expect(batch!.title).toBe("escrow_batch.withdraw");
    expect(batch!.parameters.map((p) => p.title)).toEqual(["ntxPolicy", "ntxName"]);
    expect(batch!.hash).toBe(plutusV3Hash(cborBytes(compileBatchFlat())));
    expect(Object.keys(bp.definitions)).toContain(batch!.redeemer.schema.$ref.replace("#/definitions/", ""));
    for (const schema of [v!.datum!.schema, v!.redeemer.schema, ...v!.parameters.map((p) => p.schema)]) {
      expect(Object.keys(bp.definitions)).toContain(schema.$ref.replace("#/definitions/", ""));
    }
  });

  it("stays well under the 2.5 KB size budget, and the single-escrow paths read no batch code", () => {
    expect(cborBytes(compileEscrowFlat()).length).toBeLessThanOrEqual(1_550);
    expect(cborBytes(compileBatchFlat()).length).toBeLessThanOrEqual(1_100);
    expect(cborBytes(compileLeaseFlat()).length).toBeLessThanOrEqual(1_850);
  });

  it("bakes in the EIP-712 constants ethers uses for CompletionProof", () => {
    const encoder = TypedDataEncoder.from(COMPLETION_PROOF_TYPES);
    expect(encoder.encodeType("CompletionProof")).toBe("CompletionProof(bytes32 escrowRef,bytes32 jobHash,bytes32 resultHash)");
    expect(`0x${eip712MessagePrefix()}`).toBe(`0x1901${TypedDataEncoder.hashDomain(NTX_EIP712_DOMAIN).slice(2)}`);
    const value = { escrowRef: `0x${"11".repeat(32)}`, jobHash: `0x${"22".repeat(32)}`, resultHash: `0x${"33".repeat(32)}` };
    expect(encoder.hashStruct("CompletionProof", value).slice(2)).toHaveLength(64);
    expect(`0x${completionProofTypeHash()}`).toBe(id(encoder.encodeType("CompletionProof")));
  });

  it("gives each NTX asset its own script hash", () => {
    const mainnet = escrowScript(MAINNET_NTX, "Mainnet");
    const devnet = escrowScript({ policyId: "ab".repeat(28), assetName: "4e5458" }, "Mainnet");
    expect(mainnet.hash).not.toBe(devnet.hash);
    expect(mainnet.address.startsWith("addr1")).toBe(true);
    expect(escrowScript(MAINNET_NTX, "Mainnet").hash).toBe(mainnet.hash);
  });
});
