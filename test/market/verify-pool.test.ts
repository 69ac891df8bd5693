import { describe, expect, it } from "vitest";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { createVerifyPool } from "../../src/market/verify-pool.js";
import { json, makeBid, makeOffer, newBuyer, newProvider } from "./fixtures.js";

describe("verify pool (worker threads)", () => {
  it("gives the same verdicts as inline decoding, for batches of bids, offers and confirmations", async () => {
    const pool = createVerifyPool({ workers: 2 });
    try {
      const buyer = newBuyer();
      const bids = Array.from({ length: 600 }, (_, i) => {
        const bid = makeBid(buyer);
        // Every 7th is tampered with after signing.
        return json(i % 7 === 0 ? { ...bid, maxPrice: "1" } : bid);
      });
      const results = await Promise.all(bids.map((b) => pool.decodeBidTerms(b)));
      expect(results.filter((r) => r.ok).length).toBe(600 - Math.ceil(600 / 7));
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "bad_signature")).toBe(true);
      const ok = results.find((r) => r.ok);
      // Amounts come back as bigint across the thread boundary.
      expect(ok?.ok && typeof ok.value.terms.maxPrice).toBe("bigint");
      const provider = newProvider();
      const offer = await pool.decodeOffer(json(makeOffer(provider)));
      expect(offer.ok).toBe(true);
      const confirm = signProviderConfirm(provider.privateKey, { v: 1, type: "provider-confirm", matchId: `${"ab".repeat(32)}-1`, jobHash: "ab".repeat(32), providerId: provider.id, confirmedAt: 1 });
      expect((await pool.decodeConfirm(json(confirm))).ok).toBe(true);
      expect(await pool.decodeConfirm(json({ ...confirm, confirmedAt: 2 }))).toMatchObject({ ok: false, reason: "bad_signature" });
    } finally {
      await pool.close();
    }
    await expect(pool.decodeBidTerms(new Uint8Array(2))).rejects.toMatchObject({ code: "MARKET_CLOSED" });
  });
});

describe("verify pool when a thread dies", () => {
  it("retries the dead thread's batch once on fresh threads, and drops only the message that kills a thread twice", async () => {
    const drops: string[] = [];
    const pool = createVerifyPool({ workers: 2, workerModule: new URL("./crashing-verify-worker", import.meta.url), onCrashDrop: (kind) => drops.push(kind) });
    try {
      await pool.ready();
      const buyer = newBuyer();
      const good = Array.from({ length: 40 }, () => json(makeBid(buyer)));
      const poison = json({ ...makeBid(buyer), poison: "kill-the-verifier-thread" });
      // One tick: the poison shares a batch with 40 good bids.
      const results = await Promise.all([...good.slice(0, 20), poison, ...good.slice(20)].map((b) => pool.decodeBidTerms(b)));
      expect(results[20]).toMatchObject({ ok: false, reason: "verifier_crash" });
      expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.message)).toEqual([expect.stringContaining("verifier thread died")]);
      expect(drops).toEqual(["bid"]);
      // The pool still works afterwards, on fresh threads.
      expect((await pool.decodeBidTerms(json(makeBid(buyer)))).ok).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
