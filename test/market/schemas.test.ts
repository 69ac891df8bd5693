import { describe, expect, it } from "vitest";
import { Amount, Bid, Nonce } from "../../src/market/schemas.js";
import { makeBid, newBuyer } from "./fixtures.js";

describe("wire schemas on text that is not a number", () => {
  it("return issues, never throw, for amounts and nonces BigInt() cannot read", () => {
    for (const text of ["1e308", "abc", "-1", "0x10", " 1", "1.5", "", "9".repeat(40)]) {
      const amount = Amount.safeParse(text);
      expect(amount.success, text).toBe(false);
      expect(amount.error?.issues[0]?.message).toMatch(/decimal/);
      expect(Nonce.safeParse(text).success, text).toBe(false);
    }
    expect(Nonce.safeParse("18446744073709551615").success).toBe(true);
    expect(Nonce.safeParse("18446744073709551616").success).toBe(false);
  });

  it("a signed bid whose maxPrice is 1e308 is a rejected bid, not an exception", () => {
    const poison = { ...makeBid(newBuyer()), maxPrice: "1e308" };
    const parsed = Bid.safeParse(poison);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["maxPrice"]);
  });
});
