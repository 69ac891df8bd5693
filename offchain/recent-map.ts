/**
 * A Map that keeps at most `cap` entries, dropping the least recently used: for memos of pure functions of data
 * read again and again (decoded datums, datum hashes), so a long-running process's memory stays bounded however
 * much passes through.
 */
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly cap: number) {
    if (!(cap >= 1)) throw new RangeError(`RecentMap needs a cap of at least 1, not ${cap}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.cap) this.entries.delete(this.entries.keys().next().value as K);
  }
}
