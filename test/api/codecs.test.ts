import { describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { bech32Decode, bech32Encode, normalizeAddress } from "../../src/api/address.js";
import { outRefOfUtxoCbor } from "../../src/api/utxo-ref.js";

// The two wallet formats the API decodes itself (the rest of Cardano's CBOR stays in offchain/).
describe("addresses from wallets", () => {
  it("round-trips Lucid's bech32 through CIP-30 hex", () => {
    const address = addressOfPrivateKey(newPrivateKey(), "devnet");
    const decoded = bech32Decode(address)!;
    expect(decoded.hrp).toBe("addr_test");
    const hex = Buffer.from(decoded.bytes).toString("hex");
    expect(normalizeAddress(hex, false)).toBe(address);
    expect(normalizeAddress(address, false)).toBe(address);
    expect(bech32Encode("addr_test", decoded.bytes)).toBe(address);
  });

  it("refuses a broken checksum, a stake address, another network, and junk", () => {
    const address = addressOfPrivateKey(newPrivateKey(), "devnet");
    const broken = address.slice(0, -1) + (address.endsWith("q") ? "p" : "q");
    expect(() => normalizeAddress(broken, false)).toThrow(/not a Cardano payment address/);
    const bytes = bech32Decode(address)!.bytes;
    const stake = Buffer.from([0xe0, ...bytes.subarray(1)]).toString("hex");
    expect(() => normalizeAddress(stake, false)).toThrow(/not a Shelley payment address/);
    expect(() => normalizeAddress(Buffer.from(bytes).toString("hex"), true)).toThrow(/switch the wallet's network/);
    expect(() => normalizeAddress("hello", false)).toThrow(/not a Cardano payment address/);
  });
});

describe("CIP-30 UTxO out-refs", () => {
  const txHash = "ab".repeat(32);
  it("reads definite and indefinite-length forms and any index size", () => {
    // [[h'..', 3], output] with the output left unparsed (any bytes after the input are the chain's business).
    expect(outRefOfUtxoCbor(`82825820${txHash}03a0`)).toEqual({ txHash, outputIndex: 3 });
    expect(outRefOfUtxoCbor(`9f9f5820${txHash}1901f4ffa0ff`)).toEqual({ txHash, outputIndex: 500 });
  });

  it("refuses what is not a TransactionUnspentOutput", () => {
    expect(() => outRefOfUtxoCbor("a0")).toThrow(/not a CIP-30 TransactionUnspentOutput/);
    expect(() => outRefOfUtxoCbor(`82825819${txHash.slice(2)}03a0`)).toThrow(/32 bytes/);
    expect(() => outRefOfUtxoCbor(`82825820${txHash.slice(0, 20)}`)).toThrow(/truncated/);
    expect(() => outRefOfUtxoCbor(`82825820${txHash}20a0`)).toThrow(/unsigned integer/);
  });
});
