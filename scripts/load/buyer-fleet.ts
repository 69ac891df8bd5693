/**
 * Several buyer wallets for the load run, each locking its own confirmed matches on its own loop: one wallet builds
 * one lock transaction at a time (its change output feeds the next), so one buyer's lock rate capped the whole
 * market's. Bids are spread over the wallets in turn; the checks read the fleet as one buyer.
 */
import type { BuyerJob, Buyers } from "../../test/faults/buyers.js";

/** A scan of the escrow address begun at most this long ago serves every buyer of the fleet. */
const SHARED_SCAN_MS = 1_000;

export class BuyerFleet {
  private next = 0;
  private lastScan: { at: number; scan: ReturnType<Buyers["escrows"]> } | undefined;

  constructor(readonly buyers: Buyers[]) {
    if (buyers.length === 0) throw new Error("a buyer fleet needs at least one buyer");
    // Each buyer's lock and refund rounds read the whole script address; four buyers reading it every second, beside
    // fifty providers, made the chain server time out ("cannot read UTxOs"). They share one read a second instead.
    const own = buyers[0]!.escrows.bind(buyers[0]);
    const shared = (): ReturnType<Buyers["escrows"]> => {
      const at = Date.now();
      if (this.lastScan && at - this.lastScan.at <= SHARED_SCAN_MS) return this.lastScan.scan;
      const entry = { at, scan: own() };
      this.lastScan = entry;
      entry.scan.catch(() => {
        if (this.lastScan === entry) this.lastScan = undefined;
      });
      return entry.scan;
    };
    for (const b of buyers) b.escrows = shared;
  }

  /** Every buyer's jobs by jobHash (job hashes are unique per spec, and each spec carries a fresh nonce). */
  get jobs(): Map<string, BuyerJob> {
    const all = new Map<string, BuyerJob>();
    for (const b of this.buyers) for (const [h, j] of b.jobs) all.set(h, j);
    return all;
  }

  get errors(): string[] {
    return this.buyers.flatMap((b) => b.errors);
  }

  postBid(): Promise<BuyerJob> {
    const buyer = this.buyers[this.next++ % this.buyers.length]!;
    return buyer.postBid();
  }

  /** Escrows at the script address, whoever locked them (the scan is of the address, not the wallet). */
  escrows(): ReturnType<Buyers["escrows"]> {
    return this.buyers[0]!.escrows();
  }

  ntxBalance(address: string): Promise<bigint> {
    return this.buyers[0]!.ntxBalance(address);
  }

  async fund(lovelace: bigint, ntx: bigint): Promise<void> {
    const n = BigInt(this.buyers.length);
    for (const b of this.buyers) await b.fund(lovelace / n, ntx / n);
  }

  runLoops(everyMs: number): { stop(): Promise<void> } {
    const loops = this.buyers.map((b) => b.runLoops(everyMs));
    return { stop: async () => void (await Promise.all(loops.map((l) => l.stop()))) };
  }

  /** The fleet where the checks take one buyer: they read only `jobs`, `escrows()` and `ntxBalance()`. */
  asBuyer(): Buyers {
    return this as unknown as Buyers;
  }
}
