import fc from "fast-check";
import { Constr, Data } from "@lucid-evolution/lucid";
import type { UTxO } from "@lucid-evolution/lucid";
import { describe, expect, it } from "vitest";
import { decodeEscrowDatum, decodeEscrowUtxo, encodeEscrowDatum, escrowRef, escrowScript, isNtxError, ntxUnit, type EscrowDatum } from "../../offchain/index.js";
import { RecentMap } from "../../offchain/recent-map.js";
import { randomHex } from "../helpers/emulator.js";
import { escrowDatum, PREPROD_PAYOUT } from "../helpers/escrow-datum.js";

// The escrow decoder remembers what it decoded, by out-ref. Whatever the chain answers, a remembered decode must
// be exactly what a fresh one gives: the oracle here is decodeEscrowDatum itself, called on every answer.

const ntx = { policyId: randomHex(28), assetName: "4e5458" };
const script = escrowScript(ntx, "Preprod");
const payout = PREPROD_PAYOUT;
const datum = escrowDatum;

/** Inline datums a chain might hold at the address: escrows in each state, and junk. */
const datums = [
  encodeEscrowDatum(datum()),
  encodeEscrowDatum(datum({ amount: 7n })),
  encodeEscrowDatum(datum({ state: { kind: "completed", resultHash: randomHex(32), completedAt: 1_800_000_000_001 } })),
  encodeEscrowDatum(datum({ state: { kind: "disputed" }, arbiter: randomHex(28) })),
  Data.to(new Constr(0, [1n, 2n]) as Data),
  "d87980",
  "zz",
];
const txHashes = [randomHex(32), randomHex(32), randomHex(32)];

const utxo = (txHash: string, outputIndex: number, datumText: string | undefined, ntxHeld: bigint): UTxO => ({
  txHash,
  outputIndex,
  address: script.address,
  assets: { lovelace: 3_000_000n, [ntxUnit(ntx)]: ntxHeld },
  datum: datumText,
  datumHash: undefined,
});

function fresh(u: UTxO) {
  try {
    const d = decodeEscrowDatum(u.datum!, "Preprod");
    return { ok: true as const, datum: d, escrowRef: escrowRef(u), funded: (u.assets[ntxUnit(ntx)] ?? 0n) >= d.amount };
  } catch (error) {
    return { ok: false as const, code: isNtxError(error) ? error.code : "not an NtxError" };
  }
}

function remembered(u: UTxO) {
  try {
    const e = decodeEscrowUtxo(u, script);
    return { ok: true as const, datum: e.datum, escrowRef: e.escrowRef, funded: e.funded };
  } catch (error) {
    return { ok: false as const, code: isNtxError(error) ? error.code : "not an NtxError" };
  }
}

describe("escrow decoding, remembered by out-ref", () => {
  it("answers as a fresh decode for any sequence of reads, the same out-ref answered with another datum or value included", () => {
    const read = fc.record({
      tx: fc.nat(txHashes.length - 1),
      index: fc.nat(3),
      datum: fc.nat(datums.length - 1),
      held: fc.constantFrom(0n, 7n, 1_000n),
    });
    fc.assert(
      fc.property(fc.array(read, { minLength: 1, maxLength: 40 }), (reads) => {
        for (const r of reads) {
          const u = utxo(txHashes[r.tx]!, r.index, datums[r.datum], r.held);
          expect(remembered(u)).toEqual(fresh(u));
        }
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it("shares a frozen datum, so no reader can change what the next one reads", () => {
    const u = utxo(randomHex(32), 0, encodeEscrowDatum(datum({ state: { kind: "completed", resultHash: randomHex(32), completedAt: 5 } })), 1_000n);
    const first = decodeEscrowUtxo(u, script);
    const again = decodeEscrowUtxo({ ...u, assets: { ...u.assets } }, script);
    expect(again.datum).toBe(first.datum);
    expect(Object.isFrozen(first.datum) && Object.isFrozen(first.datum.state)).toBe(true);
    expect(() => {
      (first.datum as { amount: bigint }).amount = 1n;
    }).toThrow(TypeError);
    expect(decodeEscrowUtxo(u, script).datum.amount).toBe(1_000n);
  });

  it("refuses junk again on every read, with the same error, and never as an escrow", () => {
    const u = utxo(randomHex(32), 1, "d87980", 1_000n);
    for (let i = 0; i < 3; i++) expect(remembered(u)).toEqual({ ok: false, code: "INVALID_DATUM" });
    expect(() => decodeEscrowUtxo({ ...u, address: payout }, script)).toThrow(/not at the escrow address/);
    expect(() => decodeEscrowUtxo({ ...u, datum: undefined, datumHash: randomHex(32) }, script)).toThrow(/no inline datum/);
  });
});

describe("RecentMap", () => {
  it("holds at most its cap and drops the least recently used, as a list model does", () => {
    const op = fc.oneof(fc.record({ get: fc.nat(9) }), fc.record({ set: fc.nat(9), value: fc.integer() }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (cap, ops) => {
        const map = new RecentMap<number, number>(cap);
        let model: Array<[number, number]> = [];
        for (const o of ops) {
          if ("get" in o) {
            const at = model.findIndex(([k]) => k === o.get);
            expect(map.get(o.get)).toBe(at < 0 ? undefined : model[at]![1]);
            if (at >= 0) model.push(...model.splice(at, 1));
          } else {
            model = model.filter(([k]) => k !== o.set);
            model.push([o.set, o.value]);
            if (model.length > cap) model.shift();
            map.set(o.set, o.value);
          }
          expect(map.size).toBe(model.length);
        }
      }),
      { seed: 14, numRuns: 300 },
    );
  });

  it("refuses a cap below one", () => {
    expect(() => new RecentMap(0)).toThrow(RangeError);
  });
});
