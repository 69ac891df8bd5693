/**
 * Several buyer wallets for the load run, each locking its own confirmed matches on its own loop: one wallet builds
 * one lock transaction at a time (its change output feeds the next), so one buyer's lock rate capped the whole
 * market's. Bids are spread over the wallets in turn; the checks read the fleet as one buyer.
 */
import type { BuyerJob, Buyers } from "../../test/faults/buyers.js";

export class BuyerFleet {
  private next = 0;

  constructor(readonly buyers: Buyers[]) {
    if (buyers.length === 0) throw new Error("a buyer fleet needs at least one buyer");
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
