/**
 * One payment per job from this API: every lock transaction it builds is remembered by tx hash, and a second
 * lock of the same job is refused at submit while the first may still land (two tabs, a double click, a retried
 * request). Locks carry no upper validity bound, so "may still land" has no end in the ledger; the guard keeps a
 * submitted lock for `holdMs` and afterwards lets a new one through only if the chain has not seen the old one.
 */
import { NtxError } from "../../offchain/errors.js";
import type { Chain } from "../../offchain/chain/index.js";

const MAX_BUILT = 10_000;

export class LockGuard {
  /** txHash → jobHash of lock txs built here (bounded: oldest dropped first). */
  private readonly built = new Map<string, string>();
  /** jobHash → the lock tx submitted for it. */
  private readonly submitted = new Map<string, { txHash: string; at: number }>();

  constructor(private readonly chain: Chain, private readonly now: () => number, private readonly holdMs = 10 * 60_000) {}

  rememberBuilt(txHash: string, jobHash: string): void {
    this.built.set(txHash, jobHash);
    if (this.built.size > MAX_BUILT) this.built.delete(this.built.keys().next().value!);
  }

  /** Throws when `txHash` is a lock of a job another submitted lock may still pay; records it otherwise. */
  async beforeSubmit(txHash: string): Promise<void> {
    const jobHash = this.built.get(txHash);
    if (!jobHash) return;
    const previous = this.submitted.get(jobHash);
    if (previous && previous.txHash !== txHash) {
      const status = await this.chain.txStatus(previous.txHash);
      if (status.state === "confirmed") throw new NtxError("ESCROW_EXISTS", `job ${jobHash} is already locked by ${previous.txHash}`);
      if (this.now() - previous.at < this.holdMs) {
        throw new NtxError("LOCK_PENDING", `another lock of job ${jobHash} (tx ${previous.txHash}) was submitted and may still be confirmed: wait for it before paying again`, {
          retryable: true,
          details: { txHash: previous.txHash },
        });
      }
    }
    this.submitted.set(jobHash, { txHash, at: this.now() });
  }

  /** A submit the chain refused does not hold the job. */
  submitFailed(txHash: string): void {
    const jobHash = this.built.get(txHash);
    if (jobHash && this.submitted.get(jobHash)?.txHash === txHash) this.submitted.delete(jobHash);
  }
}
