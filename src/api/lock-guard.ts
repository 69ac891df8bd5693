/**
 * One payment per job through this API: a transaction that creates an escrow for a job is refused at submit
 * while another submitted lock of the same job may still land (two tabs, a double click, a retried request).
 * The jobs come from the submitted transaction itself (its escrow outputs' datums), not from a memory of what
 * was built, so nothing a client does can push a job out of the guard. Locks carry no upper validity bound, so
 * "may still land" has no end in the ledger; the guard holds a submitted lock for `holdMs` and afterwards lets a
 * new one through only if the chain has not seen the old one. It holds at most `maxHeld` jobs: when all are
 * within their hold it refuses new locks (503 LOCK_GUARD_FULL) rather than forget one.
 */
import { NtxError } from "../../offchain/errors.js";
import type { Chain } from "../../offchain/chain/index.js";

export class LockGuard {
  /** jobHash → the lock tx submitted for it, oldest first. */
  private readonly submitted = new Map<string, { txHash: string; at: number }>();

  constructor(
    private readonly chain: Chain,
    private readonly now: () => number,
    private readonly limits: { maxHeld: number; holdMs: number } = { maxHeld: 10_000, holdMs: 10 * 60_000 },
  ) {}

  /** Throws when a job of `jobHashes` has another submitted lock that may still pay it; holds them otherwise. */
  async beforeSubmit(txHash: string, jobHashes: string[]): Promise<void> {
    if (jobHashes.length === 0) return;
    for (const jobHash of jobHashes) {
      const previous = this.submitted.get(jobHash);
      if (!previous || previous.txHash === txHash) continue;
      const status = await this.chain.txStatus(previous.txHash);
      if (status.state === "confirmed") throw new NtxError("ESCROW_EXISTS", `job ${jobHash} is already locked by ${previous.txHash}`);
      if (this.now() - previous.at < this.limits.holdMs) {
        throw new NtxError("LOCK_PENDING", `another lock of job ${jobHash} (tx ${previous.txHash}) was submitted and may still be confirmed: wait for it before paying again`, {
          retryable: true,
          details: { txHash: previous.txHash },
        });
      }
    }
    this.expire();
    const fresh = jobHashes.filter((j) => !this.submitted.has(j));
    if (this.submitted.size + fresh.length > this.limits.maxHeld) {
      throw new NtxError("LOCK_GUARD_FULL", `this API holds ${this.submitted.size} recently submitted locks (its limit): retry in a minute`, { retryable: true, details: { retryAfterSeconds: 60 } });
    }
    const at = this.now();
    for (const jobHash of jobHashes) {
      this.submitted.delete(jobHash);
      this.submitted.set(jobHash, { txHash, at });
    }
  }

  /** A submit the chain refused does not hold its jobs. */
  submitFailed(txHash: string, jobHashes: string[]): void {
    for (const jobHash of jobHashes) if (this.submitted.get(jobHash)?.txHash === txHash) this.submitted.delete(jobHash);
  }

  /** Drops holds past `holdMs` (insertion order is submit order: stop at the first one still held). */
  private expire(): void {
    const now = this.now();
    for (const [jobHash, held] of this.submitted) {
      if (now - held.at < this.limits.holdMs) break;
      this.submitted.delete(jobHash);
    }
  }
}
