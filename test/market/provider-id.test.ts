import fc from "fast-check";
import { SigningKey } from "ethers";
import { describe, expect, it } from "vitest";
import { providerIdOf, signJobEvent } from "../../src/market/eip712.js";

// A provider's id is remembered per key: it must stay each key's own compressed public key, whatever order keys
// come in, as a string or a SigningKey, and a key must never sign as another's id.
describe("provider id of a signing key", () => {
  it("is each key's compressed public key, remembered or not", () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => b.some((x) => x !== 0) && b[0]! < 0xff).map((b) => `0x${Buffer.from(b).toString("hex")}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(5), fc.boolean()), { minLength: 1, maxLength: 30 }), fc.array(key, { minLength: 6, maxLength: 6 }), (picks, keys) => {
        for (const [i, asObject] of picks) {
          const k = keys[i]!;
          const expected = new SigningKey(k).compressedPublicKey.slice(2).toLowerCase();
          expect(providerIdOf(asObject ? new SigningKey(k) : k)).toBe(expected);
        }
      }),
      { seed: 17, numRuns: 60 },
    );
  });

  it("refuses to sign for another key's id after both were seen", () => {
    const a = SigningKey.computePublicKey(`0x${"11".repeat(32)}`, true).slice(2);
    expect(providerIdOf(`0x${"11".repeat(32)}`)).toBe(a);
    providerIdOf(`0x${"22".repeat(32)}`);
    expect(() => signJobEvent(`0x${"22".repeat(32)}`, { v: 1, type: "job-event", jobHash: "ab".repeat(32), providerId: a, seq: 1, kind: "running", at: 1 })).toThrow(/not this key/);
  });
});
