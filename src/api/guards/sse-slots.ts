/**
 * The open Server-Sent Event streams: at most `perClient` per client (429 SSE_CLIENT_LIMIT) and `total` in all
 * (503 SSE_LIMIT), so one client cannot hold the NATS subscriptions every stream costs.
 */
import { NtxError } from "../../../offchain/errors.js";
import type { SseStream } from "../sse.js";

export class SseSlots {
  private readonly open = new Set<SseStream>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: { perClient: number; total: number }) {}

  get size(): number {
    return this.open.size;
  }

  /** Takes a slot for `client` or throws; the slot is given back by `release`. */
  reserve(client: string): () => void {
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.limits.perClient) {
      throw new NtxError("SSE_CLIENT_LIMIT", `this client already holds ${held} open event streams (the limit): close one first`, { retryable: true, details: { limit: this.limits.perClient } });
    }
    if (this.reserved >= this.limits.total) {
      throw new NtxError("SSE_LIMIT", `the server holds its maximum of ${this.limits.total} open event streams: retry later`, { retryable: true, details: { limit: this.limits.total } });
    }
    this.perClient.set(client, held + 1);
    this.reserved++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
  }

  private reserved = 0;

  add(stream: SseStream): void {
    this.open.add(stream);
  }

  delete(stream: SseStream): void {
    this.open.delete(stream);
  }

  closeAll(): void {
    for (const stream of [...this.open]) stream.close();
  }
}
