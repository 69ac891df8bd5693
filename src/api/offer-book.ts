/**
 * The live offer book the page shows: the latest verified offer per provider, replayed from the offers stream
 * and kept current by the market transport's watch. Offers failing verification are counted, never shown.
 */
import { decodeOffer, type MarketTransport, type Offer, type Watch } from "../market/index.js";

export interface BookEntry {
  offer: Offer;
  digest: string;
  receivedAt: number;
}

export class OfferBook {
  private readonly entries = new Map<string, BookEntry>();
  private watch: Watch | undefined;
  rejected = 0;

  constructor(private readonly now: () => number) {}

  async start(transport: MarketTransport, readyTimeoutMs = 5_000): Promise<void> {
    this.watch = await transport.watchOffers((_subject, data) => this.add(data));
    // A huge backlog must not hold up the API's start: the book fills in behind it.
    await Promise.race([this.watch.ready, new Promise((r) => setTimeout(r, readyTimeoutMs).unref())]);
  }

  add(data: Uint8Array): void {
    const decoded = decodeOffer(data, { now: this.now() });
    if (!decoded.ok) {
      this.rejected++;
      return;
    }
    const { offer, digest } = decoded.value;
    const current = this.entries.get(offer.providerId);
    if (current && BigInt(current.offer.nonce) >= BigInt(offer.nonce)) return;
    this.entries.set(offer.providerId, { offer, digest, receivedAt: this.now() });
  }

  list(filter: { region?: string; limit: number }): BookEntry[] {
    const now = this.now();
    const out: BookEntry[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.offer.expiresAt <= now) {
        this.entries.delete(id);
        continue;
      }
      if (filter.region && entry.offer.region !== filter.region) continue;
      out.push(entry);
    }
    return out.sort((a, b) => b.receivedAt - a.receivedAt).slice(0, filter.limit);
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
  }
}
