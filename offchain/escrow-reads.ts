/**
 * One read of the escrow address shared by its readers (the API's routes; the providers of one process; one
 * provider's pass over its waiting jobs): concurrent readers wait on the same read (single flight), and its result
 * serves for `ttlMs` after it lands. A failed read is not kept. `invalidate` drops it (a transaction the reader
 * submitted changes the address).
 */
import type { LucidEvolution } from "@lucid-evolution/lucid";
import { readEscrowUtxos, type EscrowScan } from "./escrow-utxos.js";
import type { EscrowScript } from "./script.js";

/** Where the reads go: a chain (`Chain.lucid()`), or a Lucid instance already made (`{ lucid: async () => lucid }`). */
export interface EscrowReadSource {
  lucid(): Promise<LucidEvolution>;
}

export class EscrowReads {
  private current: { scan: Promise<EscrowScan>; at: number | null } | undefined;
  private generation = 0;

  constructor(private readonly chain: EscrowReadSource, private readonly script: EscrowScript, private readonly ttlMs: number, private readonly clock: () => number = Date.now) {}

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

  /**
   * The last read if it landed less than `maxAgeMs` ago (default: the TTL), without ever starting one: for a lookup
   * that has a cheaper read of its own (one out-ref) and should use the address's read only when it is there anyway.
   */
  fresh(maxAgeMs = this.ttlMs): Promise<EscrowScan> | undefined {
    const current = this.current;
    return current && current.at !== null && this.clock() - current.at < maxAgeMs ? current.scan : undefined;
  }

  invalidate(): void {
    this.generation++;
    this.current = undefined;
  }
}
