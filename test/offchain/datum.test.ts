import { describe, expect, it } from "vitest";
import blueprint from "../../contracts/plutus.json" with { type: "json" };
import {
  MAINNET_NTX,
  MAX_DATUM_BYTES,
  decodeEscrowDatum,
  encodeEscrowDatum,
  ntxAsset,
  type EscrowDatum,
} from "../../offchain/index.js";
import { randomHex } from "../helpers/emulator.js";
import { escrowDatum, PREPROD_PAYOUT } from "../helpers/escrow-datum.js";

const payout = PREPROD_PAYOUT;
const datum = escrowDatum;

describe("escrow datum codec", () => {
  it("round-trips every state, with and without arbiter", () => {
    for (const state of [
      { kind: "locked" as const },
      { kind: "completed" as const, resultHash: randomHex(32), completedAt: 1_800_000_000_123 },
      { kind: "disputed" as const },
    ]) {
      for (const arbiter of [null, randomHex(28)]) {
        const d = datum({ state, arbiter });
        const cbor = encodeEscrowDatum(d);
        expect(cbor.length / 2).toBeLessThanOrEqual(MAX_DATUM_BYTES);
        expect(decodeEscrowDatum(cbor, "Preprod")).toEqual(d);
      }
    }
  });

  it("encodes fields in the blueprint's order", () => {
    const schema = blueprint.definitions.EscrowDatum.anyOf[0]!;
    expect(schema.fields.map((f) => f.title)).toEqual([
      "state",
      "requester",
      "payout",
      "proofKey",
      "jobHash",
      "amount",
      "deadline",
      "challengeWindow",
      "arbiter",
    ]);
    expect(blueprint.definitions.EscrowState.anyOf.map((c) => [c.title, c.index])).toEqual([
      ["Locked", 0],
      ["Completed", 1],
      ["Disputed", 2],
    ]);
    expect(blueprint.definitions.EscrowRedeemer.anyOf.map((c) => c.title)).toEqual([
      "Complete",
      "Accept",
      "Claim",
      "Refund",
      "Dispute",
      "Resolve",
      "Cancel",
      "Batch",
    ]);
    expect(blueprint.definitions.BatchRedeemer.anyOf.map((c) => [c.title, c.index])).toEqual([
      ["Claim", 0],
      ["Accept", 1],
    ]);
  });

  it("refuses malformed datums with INVALID_DATUM", () => {
    expect(() => encodeEscrowDatum(datum({ proofKey: `04${randomHex(64)}` }))).toThrow(expect.objectContaining({ code: "INVALID_DATUM" }));
    expect(() => encodeEscrowDatum(datum({ jobHash: "abc" }))).toThrow(expect.objectContaining({ code: "INVALID_DATUM" }));
    expect(() => encodeEscrowDatum(datum({ amount: 0n }))).toThrow(expect.objectContaining({ code: "INVALID_DATUM" }));
    expect(() => encodeEscrowDatum(datum({ payout: "nope" }))).toThrow(expect.objectContaining({ code: "INVALID_ADDRESS" }));
    expect(() => decodeEscrowDatum("d87980", "Preprod")).toThrow(expect.objectContaining({ code: "INVALID_DATUM" }));
    expect(() => decodeEscrowDatum("00".repeat(MAX_DATUM_BYTES + 1), "Preprod")).toThrow(expect.objectContaining({ code: "INVALID_DATUM" }));
  });
});

describe("NTX asset per network", () => {
  it("defaults mainnet to NuNet's NTX and needs config elsewhere", () => {
    expect(ntxAsset("mainnet")).toEqual(MAINNET_NTX);
    expect(MAINNET_NTX).toEqual({ policyId: "edfd7a1d77bcb8b884c474bdc92a16002d1fb720e454fa6e99344479", assetName: "4e5458" });
    expect(() => ntxAsset("devnet")).toThrow(expect.objectContaining({ code: "NTX_ASSET_MISSING" }));
    expect(() => ntxAsset("preprod", { policyId: "xyz", assetName: "4e5458" })).toThrow(expect.objectContaining({ code: "INVALID_NTX_ASSET" }));
    const devnet = { policyId: "ab".repeat(28), assetName: "4e5458" };
    expect(ntxAsset("devnet", devnet)).toEqual(devnet);
    expect(ntxAsset("preview", devnet)).toEqual(devnet);
  });
});
