import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatAda, formatNtx, parseNtx } from "../../src/web/format.js";

const runs = { seed: 15, numRuns: 500 };

describe("NTX amounts as people read and type them", () => {
  it("formats base units with the token's decimals, without trailing zeros", () => {
    expect(formatNtx("1101", 6)).toBe("0.001101 NTX");
    expect(formatNtx(100_000_000n, 6)).toBe("100 NTX");
    expect(formatNtx(1_234_567_890n, 6)).toBe("1,234.56789 NTX");
    expect(formatNtx("5", 0)).toBe("5 NTX");
    expect(formatAda(1_969_670n)).toBe("1.97 ADA");
    expect(formatAda(1_500_000n)).toBe("1.5 ADA");
    expect(formatAda(40_000_000n)).toBe("40 ADA");
  });

  it("parses what it formats back to the same base units, for any amount and decimals", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: 0, max: 18 }), (units, decimals) => {
        expect(parseNtx(formatNtx(units, decimals), decimals)).toBe(units);
      }),
      runs,
    );
  });

  it("never throws on typed text, and refuses what is not a plain amount", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), fc.integer({ min: 0, max: 18 }), (text, decimals) => {
        const parsed = parseNtx(text, decimals);
        expect(parsed === null || parsed >= 0n).toBe(true);
      }),
      runs,
    );
    for (const bad of ["", "-1", "1e6", "0x10", "1.2.3", "abc", "1.0000001"]) expect(parseNtx(bad, 6)).toBeNull();
    expect(parseNtx("2.5", 6)).toBe(2_500_000n);
    expect(parseNtx("1,000 NTX", 6)).toBe(1_000_000_000n);
  });
});
