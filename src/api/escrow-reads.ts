/**
 * One read of the escrow address shared by every route: concurrent requests wait on the same read (single
 * flight), and its result serves for `ttlMs` after it lands. A failed read is not kept. `invalidate` drops it (a
 * transaction this API submitted changes the address).
 */
import { readEscrowUtxos, type EscrowScan, type EscrowScript } from "../../offchain/index.js";
import type { Chain } from "../../offchain/chain/index.js";

export class EscrowReads {
  private current: { scan: Promise<EscrowScan>; at: number | null } | undefined;
  private generation = 0;

  constructor(private readonly chain: Chain, private readonly script: EscrowScript, private readonly ttlMs: number, private readonly clock: () => number = Date.now) {}

  /** The shared read, or a new one when it is older than `maxAgeMs` (default: the TTL); in flight counts as fresh. */
  scan(maxAgeMs = this.ttlMs): Promise<EscrowScan> {
    const current = this.current;
    if (current && (current.at === null || this.clock() - current.at < Math.min(maxAgeMs, this.ttlMs))) return current.scan;
    const generation = ++this.generation;
    const entry: { scan: Promise<EscrowScan>; at: number | null } = { scan: Promise.resolve(undefined as never), at: null };
    entry.scan = (async () => readEscrowUtxos(await this.chain.lucid(), this.script))().then(
      (scan) => {
        if (this.generation === generation) entry.at = this.clock();
        return scan;
      },
      (error: unknown) => {
        if (this.current === entry) this.current = undefined;
        throw error;
      },
    );
    this.current = entry;
    return entry.scan;
  }

  invalidate(): void {
    this.generation++;
    this.current = undefined;
  }
}
