import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NtxError } from "../../offchain/errors.js";
import { ClaimBatches, MAX_SINGLE_CLAIM_ATTEMPTS, SET_ASIDE_FIRST_MS, SET_ASIDE_MAX_MS } from "../../src/provider/claim-batches.js";

/*
 * The daemon's claim planning on its own: whatever fails, and however often, every escrow is either claimed or set
 * aside with a reason after a bounded number of tries, batches only shrink after a failure, and failures that say
 * "not now" (chain unreachable, build pool busy) leave the batch as it is.
 */

const ids = (n: number) => Array.from({ length: n }, (_, i) => `job${i}`);
const id = (s: string) => s;

describe("claim batches", () => {
  it("plans full batches of the configured size when nothing failed", () => {
    const b = new ClaimBatches(4, () => undefined);
    expect(b.plan(ids(10), id).map((x) => x.length)).toEqual([4, 4, 2]);
  });

  it("defers, never splits nor sets aside, a claim the wallet cannot pay for right now (Lucid's fee and collateral failures)", () => {
    const reports: NtxError[] = [];
    const b = new ClaimBatches(4, (e) => reports.push(e));
    // The messages as Lucid Evolution words them; the first is from a fault run where a provider's Completes held
    // its large output while it built claims.
    const walletFailures = [
      new NtxError("TX_BUILD_FAILED", "claim: { Complete: Selected 6 inputs as collateral, but max collateral inputs is 3 to cover the 5000000 Lovelace collateral [...] }"),
      new NtxError("TX_BUILD_FAILED", "claim: { Complete: Your wallet does not have enough funds to cover the required 5000000 Lovelace collateral. }"),
      new Error("{ Complete: UTxO Balance Insufficient }"),
    ];
    for (let pass = 0; pass < MAX_SINGLE_CLAIM_ATTEMPTS * 3; pass++) {
      for (const batch of b.plan(ids(6), id)) b.failed(batch, walletFailures[pass % walletFailures.length]);
    }
    expect(b.plan(ids(6), id).map((x) => x.length)).toEqual([4, 2]);
    expect(ids(6).some((x) => b.isSetAside(x))).toBe(false);
    expect(new Set(reports.map((r) => r.code))).toEqual(new Set(["CLAIM_DEFERRED"]));
    // A failure about what the claim spends still splits the batch.
    b.failed(ids(4), new NtxError("TX_BUILD_FAILED", "claim: script evaluation failed"));
    expect(b.plan(ids(4), id).map((x) => x.length)).toEqual([2, 2]);
  });

  it("halves a failed batch down to single escrows, then sets aside the one that keeps failing", () => {
    const reports: NtxError[] = [];
    const b = new ClaimBatches(8, (e) => reports.push(e));
    const bad = "job5";
    const fails = (batch: string[]) => batch.includes(bad);
    const claimed: string[] = [];
    for (let pass = 0; pass < 20; pass++) {
      for (const batch of b.plan(ids(8).filter((x) => !claimed.includes(x)), id)) {
        if (fails(batch)) b.failed(batch, new NtxError("TX_BUILD_FAILED", "claim: detached ArrayBuffer"));
        else {
          b.succeeded(batch);
          claimed.push(...batch);
        }
      }
    }
    expect(claimed.sort()).toEqual(ids(8).filter((x) => x !== bad).sort());
    expect(b.isSetAside(bad)).toBe(true);
    expect(reports.map((r) => r.code)).toEqual(["CLAIM_BATCH_SPLIT", "CLAIM_BATCH_SPLIT", "CLAIM_BATCH_SPLIT", "CLAIM_RETRY_SINGLE", "CLAIM_RETRY_SINGLE", "CLAIM_SET_ASIDE"]);
    expect(b.plan([bad], id)).toEqual([]);
  });

  it("tries a set-aside escrow alone again after a cool-down that doubles up to its cap, and forgets it once paid", () => {
    const reports: NtxError[] = [];
    let now = 0;
    const b = new ClaimBatches(4, (e) => reports.push(e), MAX_SINGLE_CLAIM_ATTEMPTS, () => now);
    const bad = "job0";
    for (let i = 0; i < MAX_SINGLE_CLAIM_ATTEMPTS; i++) b.failed([bad], new NtxError("TX_BUILD_FAILED", "claim: the validator crashed"));
    expect(b.isSetAside(bad)).toBe(true);
    expect(b.plan([bad], id)).toEqual([]);
    const cooldowns: number[] = [];
    for (let round = 0; round < 8; round++) {
      const set = reports.at(-1)!;
      expect(set.code).toBe("CLAIM_SET_ASIDE");
      cooldowns.push(Number(set.details?.retryInMs));
      now += cooldowns.at(-1)! - 1;
      expect(b.plan([bad], id)).toEqual([]); // not a moment before
      now += 1;
      expect(b.plan([bad], id)).toEqual([[bad]]); // then alone, once
      b.failed([bad], new NtxError("TX_BUILD_FAILED", "claim: the validator crashed"));
    }
    expect(cooldowns.slice(0, 3)).toEqual([SET_ASIDE_FIRST_MS, SET_ASIDE_FIRST_MS * 2, SET_ASIDE_FIRST_MS * 4]);
    expect(Math.max(...cooldowns)).toBe(SET_ASIDE_MAX_MS);
    now += SET_ASIDE_MAX_MS;
    b.succeeded([bad]);
    expect(b.isSetAside(bad)).toBe(false);
    expect(b.stats()).toEqual({ splitting: 0, setAside: 0 });
  });

  it("defers a claim whose wallet input was spent meanwhile (built again from current UTxOs)", () => {
    const reports: NtxError[] = [];
    const b = new ClaimBatches(4, (e) => reports.push(e));
    for (let i = 0; i < MAX_SINGLE_CLAIM_ATTEMPTS * 2; i++) b.failed(["job0"], new NtxError("TX_INPUTS_SPENT", "submit failed: transaction rejected (spent_input)"));
    expect(b.isSetAside("job0")).toBe(false);
    expect(reports.every((r) => r.code === "CLAIM_DEFERRED")).toBe(true);
  });

  it("keeps the batch as it is when the chain or the build pool is unavailable", () => {
    const reports: NtxError[] = [];
    const b = new ClaimBatches(4, (e) => reports.push(e));
    for (let i = 0; i < 10; i++) b.failed(ids(4), new NtxError("CHAIN_UNREACHABLE", "down"));
    b.failed(ids(4), new NtxError("BUILD_BUSY", "busy"));
    expect(b.plan(ids(4), id).map((x) => x.length)).toEqual([4]);
    expect(reports.every((r) => r.code === "CLAIM_DEFERRED")).toBe(true);
  });

  it("treats an error that is not an NtxError as about the batch", () => {
    const b = new ClaimBatches(4, () => undefined);
    b.failed(ids(4), new TypeError("Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer"));
    expect(b.plan(ids(4), id).map((x) => x.length)).toEqual([2, 2]);
  });

  it("property: any failure pattern ends with every escrow claimed or set aside, in a bounded number of attempts", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 16 }), fc.func(fc.boolean()), (n, size, flaky) => {
        const b = new ClaimBatches(size, () => undefined);
        const attempts = new Map<string, number>();
        const done = new Set<string>();
        for (let pass = 0; pass < 200; pass++) {
          const batches = b.plan(ids(n).filter((x) => !done.has(x)), id);
          if (batches.length === 0) break;
          for (const batch of batches) {
            expect(batch.length).toBeLessThanOrEqual(size);
            for (const x of batch) attempts.set(x, (attempts.get(x) ?? 0) + 1);
            if (flaky(batch.join(","))) b.failed(batch, new Error("unknown"));
            else {
              b.succeeded(batch);
              for (const x of batch) done.add(x);
            }
          }
        }
        for (const x of ids(n)) expect(done.has(x) || b.isSetAside(x)).toBe(true);
        // Each failure at least halves the batch, so an escrow is tried at most log2(size) + 1 + the single tries.
        const bound = Math.ceil(Math.log2(size)) + 1 + MAX_SINGLE_CLAIM_ATTEMPTS;
        for (const count of attempts.values()) expect(count).toBeLessThanOrEqual(bound);
      }),
      { seed: 14, numRuns: 200 },
    );
  });
});
