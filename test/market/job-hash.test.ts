import { blake2b } from "@noble/hashes/blake2b";
import { bytesToHex } from "@noble/hashes/utils";
import { describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { jobHash } from "../../src/market/index.js";

const spec = {
  image: "ntx-test/busybox:1",
  command: ["sh", "-c", "echo hi > /work/out"],
  env: { B: "2", A: "1" },
  resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 0 },
  maxDurationMs: 60_000,
  outputs: ["/work/out"],
  network: "none" as const,
};

describe("jobHash", () => {
  it("is blake2b-256 of the RFC 8785 canonical JSON of the spec", () => {
    // Written out by hand in canonical form: keys sorted by UTF-16 code units, no whitespace.
    const canonical =
      '{"command":["sh","-c","echo hi > /work/out"],"env":{"A":"1","B":"2"},"image":"ntx-test/busybox:1","maxDurationMs":60000,' +
      '"network":"none","outputs":["/work/out"],"resources":{"cpuCores":1,"diskGiB":0,"memoryMiB":64}}';
    const expected = bytesToHex(blake2b(new TextEncoder().encode(canonical), { dkLen: 32 }));
    expect(jobHash(spec)).toBe(expected);
    expect(jobHash(spec)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("ignores key order and changes with any field", () => {
    const reordered = JSON.parse(JSON.stringify({ network: "none", outputs: spec.outputs, maxDurationMs: 60_000, resources: { diskGiB: 0, memoryMiB: 64, cpuCores: 1 }, env: { A: "1", B: "2" }, command: spec.command, image: spec.image }));
    expect(jobHash(reordered)).toBe(jobHash(spec));
    expect(jobHash({ ...spec, maxDurationMs: 60_001 })).not.toBe(jobHash(spec));
  });

  it("tells identical specs of two buyers apart by their salts", () => {
    const a = jobHash({ ...spec, salt: "11".repeat(16) });
    const b = jobHash({ ...spec, salt: "22".repeat(16) });
    expect(a).not.toBe(b);
    expect(a).not.toBe(jobHash(spec));
    expect(() => jobHash({ ...spec, salt: "xyz" })).toThrowError(expect.objectContaining({ code: "MARKET_MALFORMED" }));
    expect(() => jobHash({ ...spec, salt: "11".repeat(8) })).toThrowError(expect.objectContaining({ code: "MARKET_MALFORMED" }));
  });

  it("refuses an invalid spec with MARKET_MALFORMED", () => {
    expect(() => jobHash({ ...spec, image: "busybox" })).toThrowError(expect.objectContaining({ code: "MARKET_MALFORMED" }));
    try {
      jobHash({ ...spec, extra: 1 });
      expect.unreachable();
    } catch (error) {
      expect(isNtxError(error, "MARKET_MALFORMED")).toBe(true);
    }
  });
});
