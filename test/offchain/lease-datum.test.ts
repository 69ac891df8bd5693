import { Constr, Data } from "@lucid-evolution/lucid";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import blueprint from "../../contracts/plutus.json" with { type: "json" };
import { LEASE_MAX_CLOSE_WINDOW_MS as ON_CHAIN_CLOSE_WINDOW } from "../../contracts/lease.js";
import {
  LEASE_MAX_CLOSE_WINDOW_MS,
  LeaseRedeemer,
  MAINNET_NTX,
  MAX_LEASE_DATUM_BYTES,
  decodeLeaseDatum,
  encodeLeaseDatum,
  isNtxError,
  leaseOwed,
  type LeaseDatum,
} from "../../offchain/index.js";
import { randomHex } from "../helpers/emulator.js";

const provider = "addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3jcu5d8ps7zex2k2xt3uqxgjqnnj83ws8lhrn648jjxtwq2ytjqp";

const datum = (over: Partial<LeaseDatum> = {}): LeaseDatum => ({
  buyer: randomHex(28),
  provider,
  asset: MAINNET_NTX,
  rate: 1_157n,
  lastClaim: 1_800_000_000_000,
  end: 1_800_002_592_000,
  notice: 86_400_000,
  jobHash: randomHex(32),
  ...over,
});

describe("lease datum codec", () => {
  it("round-trips and stays under its size bound", () => {
    const d = datum();
    const cbor = encodeLeaseDatum(d);
    expect(cbor.length / 2).toBeLessThanOrEqual(MAX_LEASE_DATUM_BYTES);
    expect(decodeLeaseDatum(cbor, "Preprod")).toEqual(d);
  });

  it("encodes fields and redeemers in the blueprint's order", () => {
    expect(blueprint.definitions.LeaseDatum.anyOf[0]!.fields.map((f) => f.title)).toEqual(["buyer", "provider", "policy", "name", "rate", "lastClaim", "end", "notice", "jobHash"]);
    const fields = (Data.from(encodeLeaseDatum(datum())) as Constr<unknown>).fields;
    expect(fields[2]).toBe(MAINNET_NTX.policyId);
    expect(fields[4]).toBe(1_157n);
    expect(blueprint.definitions.LeaseRedeemer.anyOf.map((c) => [c.title, c.index, c.fields.length])).toEqual([
      ["LeaseClaim", 0, 1],
      ["LeaseTopUp", 1, 2],
      ["LeaseClose", 2, 3],
      ["LeaseSettle", 3, 3],
    ]);
    expect((Data.from(LeaseRedeemer.topUp(3n, 5)) as Constr<unknown>).index).toBe(1);
    expect((Data.from(LeaseRedeemer.settle(3n, 0, 1)) as Constr<unknown>).fields).toEqual([3n, 0n, 1n]);
  });

  it("the builders' close-window cap is the validator's", () => {
    expect(LEASE_MAX_CLOSE_WINDOW_MS).toBe(ON_CHAIN_CLOSE_WINDOW);
  });

  it("refuses a provider address without a payment key, a non-positive rate, an end before lastClaim", () => {
    const scriptAddress = "addr_test1wpnlxv2xv9a9ucvnvzqakwepzl9ltx7jzgm53av2e9ncv4sysemm8";
    for (const bad of [datum({ provider: scriptAddress }), datum({ rate: 0n }), datum({ end: 1 })]) {
      expect(() => encodeLeaseDatum(bad)).toThrow(expect.objectContaining({ code: "INVALID_LEASE" }));
    }
  });

  it("owed(t): floor of rate × elapsed, capped at end and at the balance, never negative", () => {
    const d = { rate: 1_333n, lastClaim: 10_500, end: 20_000 };
    expect(leaseOwed(d, 1_000_000n, 12_000)).toBe(1_999n);
    expect(leaseOwed(d, 1_000_000n, 99_000)).toBe((1_333n * 9_500n) / 1000n);
    expect(leaseOwed(d, 5n, 99_000)).toBe(5n);
    expect(leaseOwed(d, 1_000_000n, 0)).toBe(0n);
  });

  it("decoding arbitrary bytes or Data never throws anything but INVALID_LEASE (property, fixed seed)", () => {
    const plutusData: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.bigInt(),
        fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("hex")),
        fc.record({ index: fc.nat(8), fields: fc.array(tie("node"), { maxLength: 9 }) }).map(({ index, fields }) => new Constr(index, fields as never[])),
      ),
    })).node;
    const encoded = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("hex")),
      plutusData.map((d) => {
        try {
          return Data.to(d as Data);
        } catch {
          return "00";
        }
      }),
      // A valid datum cut short, or with one field replaced by arbitrary Data.
      fc.nat(200).map((cut) => encodeLeaseDatum(datum()).slice(0, cut * 2)),
      fc.tuple(fc.nat(8), plutusData).map(([at, value]) => {
        const fields = [...(Data.from(encodeLeaseDatum(datum())) as Constr<unknown>).fields];
        fields[at] = value;
        try {
          return Data.to(new Constr(0, fields) as Data);
        } catch {
          return "00";
        }
      }),
    );
    fc.assert(
      fc.property(encoded, (cbor) => {
        try {
          decodeLeaseDatum(cbor, "Preprod");
        } catch (error) {
          expect(isNtxError(error, "INVALID_LEASE")).toBe(true);
        }
      }),
      { seed: 12, numRuns: 400 },
    );
  });
});
