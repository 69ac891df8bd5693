/**
 * The capacity ledger's rules at its KV boundary, with a KV of our own that can be made to fail. A confirmation
 * handled late (the matcher was paused) but stored in time must keep its slot even when newer bids for the same
 * provider are reserved first; a KV that cannot be reached must not make an in-time confirmation read as late.
 */
import { describe, expect, it } from "vitest";
import { NtxError } from "../../offchain/errors.js";
import { CapacityLedger, PENDING_GRACE_MS } from "../../src/market/capacity.js";
import { createMarketMetrics } from "../../src/market/metrics.js";
import { OrderBook } from "../../src/market/order-book.js";
import { Offer } from "../../src/market/schemas.js";
import type { KvRecord, MarketKv } from "../../src/market/transport.js";
import { makeOffer, newProvider } from "./fixtures.js";

class MemoryKv implements MarketKv {
  readonly entries = new Map<string, KvRecord>();
  down = false;
  #revision = 0;
  async get(key: string) {
    if (this.down) throw new Error("no responders");
    return this.entries.get(key) ?? null;
  }
  async create(key: string, value: Uint8Array) {
    if (this.down) throw new Error("no responders");
    if (this.entries.has(key)) throw new NtxError("KV_EXISTS", key);
    return this.#put(key, value);
  }
  async update(key: string, value: Uint8Array, revision: number) {
    if (this.down) throw new Error("no responders");
    if (this.entries.get(key)?.revision !== revision) throw new NtxError("KV_CONFLICT", key);
    return this.#put(key, value);
  }
  async watch() {
    return { stop: async () => undefined } as never;
  }
  #put(key: string, value: Uint8Array) {
    const revision = ++this.#revision;
    this.entries.set(key, { value, revision } as KvRecord);
    return revision;
  }
}

const core = { cpuCores: 1, memoryMiB: 0, diskGiB: 0, gpuIndices: [] };

function setup() {
  let clock = Date.now();
  const provider = newProvider();
  const offer = Offer.parse(makeOffer(provider, { resources: { cpuCores: 1, memoryMiB: 1024, diskGiB: 1, gpus: [] } }));
  const book = new OrderBook();
  book.upsert(offer, "digest", clock);
  const kv = new MemoryKv();
  const ledger = new CapacityLedger(kv, book, createMarketMetrics(), () => clock);
  const hold = { deadline: clock + 3_600_000, lockWindowMs: 600_000 };
  return { ledger, kv, hold, id: provider.id, advance: (ms: number) => (clock += ms), now: () => clock };
}

describe("capacity ledger", () => {
  it("keeps a pending slot past its window until the match lapses, so an in-time confirmation handled late wins it", async () => {
    const { ledger, hold, id, advance, now } = setup();
    const confirmBy = now() + 3_000;
    expect(await ledger.reserve(id, "job-a", "job-a-0", core, confirmBy, hold)).toBe(true);
    // Paused past the window: a newer bid for the same single core comes first.
    advance(10_000);
    expect(await ledger.reserve(id, "job-b", "job-b-0", core, now() + 3_000, hold)).toBe(false);
    // job-a's confirmation, stored before confirmBy, is handled now: its slot was kept, nothing is over-booked.
    await expect(ledger.confirm(id, "job-a", "job-a-0", core, confirmBy - 1, hold)).resolves.toBeUndefined();
    expect(ledger.usageFor(id, "0").cpuCores).toBe(1);
  });

  it("frees a pending slot once its match lapses, and on its own only after the grace", async () => {
    const { ledger, hold, id, advance, now } = setup();
    expect(await ledger.reserve(id, "job-a", "job-a-0", core, now() + 3_000, hold)).toBe(true);
    expect(await ledger.release(id, "job-a", "job-a-0")).toBe(true);
    expect(await ledger.reserve(id, "job-b", "job-b-0", core, now() + 3_000, hold)).toBe(true);
    // job-b's matcher died without lapsing it: the slot comes back after the window and the grace.
    advance(3_000 + PENDING_GRACE_MS - 1);
    expect(await ledger.reserve(id, "job-c", "job-c-0", core, now() + 3_000, hold)).toBe(false);
    advance(2);
    expect(await ledger.reserve(id, "job-c", "job-c-0", core, now() + 3_000, hold)).toBe(true);
  });

  it("throws on a confirmation it cannot write, instead of calling it too late", async () => {
    const { ledger, kv, hold, id, now } = setup();
    const confirmBy = now() + 3_000;
    expect(await ledger.reserve(id, "job-a", "job-a-0", core, confirmBy, hold)).toBe(true);
    kv.down = true;
    await expect(ledger.confirm(id, "job-a", "job-a-0", core, confirmBy - 1, hold)).rejects.toThrow(/no responders/);
    expect(await ledger.reserve(id, "job-b", "job-b-0", core, confirmBy, hold)).toBe(false);
    kv.down = false;
    await expect(ledger.confirm(id, "job-a", "job-a-0", core, confirmBy - 1, hold)).resolves.toBeUndefined();
  });
});
