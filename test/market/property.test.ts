/**
 * Property tests (fast-check, fixed seed, bounded runs) over every wire schema and decoder of the market:
 * arbitrary strings, numbers, nesting and bytes, and valid signed messages with one field replaced by anything.
 * None may throw; every reject carries a reason (a decoder's RejectReason and message, a schema's issues, or
 * for the CBOR/COSE/canonical JSON helpers, whose contract is to throw, an NtxError with a stable code).
 */
import canonicalize from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { CapacityRecord } from "../../src/market/capacity.js";
import { decodeCbor } from "../../src/market/cbor.js";
import { parseCoseKey, parseCoseSign1, verifyDataSignature } from "../../src/market/cose.js";
import { decodeBid, decodeBidTerms, decodeJobEvent, decodeOffer, decodeProviderConfirm, type Decoded } from "../../src/market/decode.js";
import { signJobEvent, signProviderConfirm } from "../../src/market/eip712.js";
import { JobRecord } from "../../src/market/job-record.js";
import { canonicalJson, jobHash } from "../../src/market/job-hash.js";
import { RejectReason } from "../../src/market/protocol.js";
import { Amount, Bid, JobEvent, JobSpec, Match, Nonce, Offer, ProviderConfirm } from "../../src/market/schemas.js";
import { makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";

const SEED = 20261130;
const RUNS = Number(process.env.NTX_PROPERTY_RUNS ?? 300);
const run = (property: fc.IProperty<never> | fc.IProperty<[unknown]> | fc.IProperty<unknown[]>) => fc.assert(property as fc.IProperty<unknown[]>, { seed: SEED, numRuns: RUNS });

const buyer = newBuyer();
const provider = newProvider();
const validBid = makeBid(buyer);
const validOffer = makeOffer(provider);
const hash = jobHash(validBid.spec);
const validConfirm = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: `${hash}-1`, jobHash: hash, providerId: provider.id, confirmedAt: 1 });
const validEvent = signJobEvent(provider.privateKey, { v: 1, type: "job-event", jobHash: hash, providerId: provider.id, seq: 0, kind: "locked", at: 1 });

/** Anything JSON.parse can return, and the odd values code may meet besides. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  fc.anything({ maxDepth: 4, withBigInt: true, withNullPrototype: true, withObjectString: true }),
  fc.constantFrom("1e308", "abc", "-1", "0x10", "NaN", "Infinity", "9".repeat(400), "\u0000", "__proto__", 1e308, -0, Number.NaN, 2 ** 53, -(2 ** 63)),
);

/** Every path (key list) of a plain JSON object. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== "object" || value === null) return [prefix];
  const out: string[][] = [prefix];
  for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function replaced(value: unknown, path: string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  (copy as Record<string, unknown>)[path[0]!] = replaced((value as Record<string, unknown>)[path[0]!], path.slice(1), replacement);
  return copy;
}

/** A valid message with one field (any depth) replaced by anything, or deleted, as JSON text. */
function mutated(valid: object): fc.Arbitrary<string> {
  const all = paths(valid);
  return fc.tuple(fc.constantFrom(...all), anyValue, fc.boolean()).map(([path, value, drop]) => {
    const m = drop && path.length > 0 ? replaced(valid, path, undefined) : replaced(valid, path, value);
    try {
      return JSON.stringify(m, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? "null";
    } catch {
      return "{}";
    }
  });
}

const rawInputs = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.string({ maxLength: 512 }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)),
);

function expectReasoned(result: Decoded<unknown>): void {
  if (result.ok) return;
  expect(Object.values(RejectReason)).toContain(result.reason);
  expect(result.message.length).toBeGreaterThan(0);
}

const decoders: Array<[string, (input: Uint8Array | string) => Decoded<unknown>, object]> = [
  ["decodeBid", (i) => decodeBid(i, { now: Date.now() }), validBid],
  ["decodeBidTerms", (i) => decodeBidTerms(i, { now: Date.now() }), validBid],
  ["decodeOffer", (i) => decodeOffer(i, { now: Date.now() }), validOffer],
  ["decodeProviderConfirm", decodeProviderConfirm, validConfirm],
  ["decodeJobEvent", decodeJobEvent, validEvent],
];

describe("decoders never throw, and every reject has a reason", () => {
  for (const [name, decode, valid] of decoders) {
    it(`${name}: arbitrary bytes, text and JSON`, () => {
      run(fc.property(rawInputs, (input) => expectReasoned(decode(input))));
    });
    it(`${name}: a valid signed message with one field replaced or dropped`, () => {
      expect(decode(JSON.stringify(valid)).ok).toBe(true);
      run(fc.property(mutated(valid), (text) => expectReasoned(decode(text))));
    });
  }
});

describe("wire schemas never throw, and every failure has issues", () => {
  const schemas = { Amount, Nonce, Bid, Offer, Match, ProviderConfirm, JobEvent, JobSpec, JobRecord, CapacityRecord };
  for (const [name, schema] of Object.entries(schemas)) {
    it(name, () => {
      run(
        fc.property(fc.oneof(anyValue, mutated(validBid).map((t) => JSON.parse(t) as unknown), mutated(validOffer).map((t) => JSON.parse(t) as unknown)), (value) => {
          const r = (schema as { safeParse(v: unknown): { success: boolean; error?: { issues: Array<{ message: string }> } } }).safeParse(value);
          if (!r.success) expect(r.error!.issues.length).toBeGreaterThan(0);
        }),
      );
    });
  }
});

/** The helpers whose contract is to throw: only NtxErrors with a stable code, never a TypeError or RangeError. */
function throwsOnlyCoded(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!isNtxError(error)) throw new Error(`threw a non-NtxError: ${String(error)}`);
    expect(error.code).toMatch(/^[A-Z_]+$/);
  }
}

describe("CBOR, COSE and canonical JSON", () => {
  const cborish = fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    // Heads of every major type with every additional-info value, then random bytes.
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 })).map(([h, rest]) => Uint8Array.of(h, ...rest)),
    fc.constant(Uint8Array.from(Array.from({ length: 40 }, () => 0x81))), // nested too deep
  );
  const signature = Buffer.from(validBid.signature.signature, "hex");
  const key = Buffer.from(validBid.signature.key, "hex");
  const flipped = fc.tuple(fc.integer({ min: 0, max: signature.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const copy = Uint8Array.from(signature);
    copy[i] = copy[i]! ^ x;
    return copy;
  });

  it("decodeCbor", () => run(fc.property(cborish, (bytes) => throwsOnlyCoded(() => decodeCbor(bytes)))));
  it("parseCoseSign1 and parseCoseKey", () => {
    run(fc.property(fc.oneof(cborish, flipped), (bytes) => {
      throwsOnlyCoded(() => parseCoseSign1(bytes));
      throwsOnlyCoded(() => parseCoseKey(bytes));
    }));
  });
  it("verifyDataSignature on flipped bytes of a real signature and key", () => {
    run(fc.property(flipped, fc.boolean(), (bytes, flipKey) => throwsOnlyCoded(() => verifyDataSignature(flipKey ? { signature, key: bytes } : { signature: bytes, key }, new Uint8Array(8), key.subarray(key.length - 32)))));
  });
  it("canonicalJson and jobHash", () => {
    run(fc.property(anyValue, (value) => {
      throwsOnlyCoded(() => canonicalJson(value));
      throwsOnlyCoded(() => jobHash(value));
    }));
  });
  it("canonicalJson is the canonicalize library's output, byte for byte (its fast path included)", () => {
    const library = canonicalize as unknown as (input: unknown) => string | undefined;
    const unicode = fc.string({ unit: "binary", maxLength: 12 });
    const plainish = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        unicode,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.array(tie("value"), { maxLength: 5 }),
        fc.dictionary(unicode, tie("value"), { maxKeys: 6 }),
      ),
    })).value;
    run(fc.property(fc.oneof(anyValue, plainish), (value) => {
      let expected: string | undefined;
      try {
        expected = library(value);
      } catch {
        expected = undefined;
      }
      let actual: string | undefined;
      try {
        actual = canonicalJson(value);
      } catch {
        actual = undefined;
      }
      expect(actual).toBe(expected);
    }));
  });
});
