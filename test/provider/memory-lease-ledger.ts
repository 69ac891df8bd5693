import type { LeaseSettlement, ObservedLease } from "../../src/provider/service/types.js";

/**
 * The lease escrow's rules (issue #12 part 1) kept in memory, as a second implementation the keeper is checked
 * against: a claim pays floor(rate × ms / 1000) from the last claim up to its slot-aligned lower bound (as the
 * builders set it), capped at the end and the balance, re-derived from the ledger's own record (never from what
 * the caller passes); a close pays what accrued and refunds the rest. The chain's clock is the test's. The real
 * chain's counterpart is test/e2e/lease-service-devnet.test.ts.
 */
interface Record {
  lease: ObservedLease;
  deposited: bigint;
}

export class MemoryLeaseLedger implements LeaseSettlement {
  readonly slotMs: number;
  clock: number;
  providerPaid = 0n;
  buyerRefunded = 0n;
  claimTxs: string[] = [];
  failReads = 0;
  failClaims = 0;
  private readonly records = new Map<string, Record>();
  private tx = 0;

  constructor(params: { slotMs: number; start: number }) {
    this.slotMs = params.slotMs;
    this.clock = params.start;
  }

  private nextRef() {
    return { txHash: (++this.tx).toString(16).padStart(64, "0"), outputIndex: 0 };
  }

  open(jobHash: string, p: { deposit: bigint; ratePerSecond: bigint; endMs: number; noticeMs: number }): void {
    this.records.set(jobHash, { deposited: p.deposit, lease: { ref: this.nextRef(), jobHash, balance: p.deposit, ratePerSecond: p.ratePerSecond, lastClaimMs: this.clock, endMs: p.endMs, noticeMs: p.noticeMs } });
  }

  topUp(jobHash: string, amount: bigint, endMs?: number): void {
    const r = this.records.get(jobHash)!;
    r.deposited += amount;
    r.lease = { ...r.lease, ref: this.nextRef(), balance: r.lease.balance + amount, endMs: endMs ?? r.lease.endMs };
  }

  private owed(lease: ObservedLease): { pay: bigint; slots: number } {
    const upTo = Math.min(this.clock, lease.endMs);
    const slots = Math.max(0, Math.floor((upTo - lease.lastClaimMs) / this.slotMs));
    const owed = (lease.ratePerSecond * BigInt(slots * this.slotMs)) / 1000n;
    return { pay: owed < lease.balance ? owed : lease.balance, slots };
  }

  close(jobHash: string): void {
    const r = this.records.get(jobHash)!;
    const { pay } = this.owed(r.lease);
    this.providerPaid += pay;
    this.buyerRefunded += r.lease.balance - pay;
    this.records.delete(jobHash);
  }

  deposited(jobHash: string): bigint {
    return this.records.get(jobHash)?.deposited ?? 0n;
  }

  async listLeases(): Promise<ObservedLease[]> {
    if (this.failReads > 0) { this.failReads--; throw new Error("chain read failed"); }
    return [...this.records.values()].map((r) => ({ ...r.lease }));
  }

  async now(): Promise<number> {
    return this.clock;
  }

  async claim(leases: readonly ObservedLease[]): Promise<{ txHash: string }> {
    if (this.failClaims > 0) { this.failClaims--; throw new Error("claim tx failed"); }
    const txHash = this.nextRef().txHash;
    for (const seen of leases) {
      const r = this.records.get(seen.jobHash);
      if (!r || r.lease.ref.txHash !== seen.ref.txHash) throw new Error("lease input already spent");
    }
    for (const seen of leases) {
      const r = this.records.get(seen.jobHash)!;
      const { pay, slots } = this.owed(r.lease);
      this.providerPaid += pay;
      r.lease = { ...r.lease, ref: { txHash, outputIndex: 0 }, balance: r.lease.balance - pay, lastClaimMs: r.lease.lastClaimMs + slots * this.slotMs };
    }
    this.claimTxs.push(txHash);
    return { txHash };
  }
}
