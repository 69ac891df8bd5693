import { describe, expect, it } from "vitest";
import { CoalescingWriter } from "../../offchain/devnet/coalescing-writer.js";

describe("state writes are shared between the changes that wait for them", () => {
  it("a burst during one write costs one more write, and every caller waits for a write that began after it", async () => {
    const started: number[] = [];
    let version = 0;
    let release: (() => void) | undefined;
    const writer = new CoalescingWriter(async () => {
      started.push(version);
      await new Promise<void>((resolve) => (release = resolve));
    });
    version = 1;
    const first = writer.request();
    version = 2;
    const burst = Array.from({ length: 10 }, () => writer.request());
    expect(started).toEqual([1]);
    release!();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    // The burst's write saw version 2, the state after every burst request.
    expect(started).toEqual([1, 2]);
    release!();
    await Promise.all(burst);
    expect(started).toHaveLength(2);
  });

  it("a failed write rejects its waiters and does not block the next one", async () => {
    let fail = true;
    const writer = new CoalescingWriter(async () => {
      if (fail) throw new Error("disk full");
    });
    await expect(writer.request()).rejects.toThrow("disk full");
    fail = false;
    await expect(writer.request()).resolves.toBeUndefined();
  });
});
