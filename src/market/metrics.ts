import { Counter, Histogram, Registry } from "prom-client";
import type { RejectReason } from "./protocol.js";

export type MessageKind = "bid" | "offer" | "confirm" | "event";

export interface MarketMetrics {
  registry: Registry;
  rejected: Counter<"kind" | "reason">;
  matched: Counter;
  confirmed: Counter;
  lapsed: Counter;
  noFit: Counter;
  casConflicts: Counter;
  bidToMatchSeconds: Histogram;
  reject(kind: MessageKind, reason: RejectReason): void;
}

/** Each matcher gets its own registry unless given one, so two instances in one process do not collide. */
export function createMarketMetrics(registry: Registry = new Registry()): MarketMetrics {
  const rejected = new Counter({ name: "ntx_market_rejected_total", help: "Market messages rejected, by kind and reason", labelNames: ["kind", "reason"] as const, registers: [registry] });
  return {
    registry,
    rejected,
    matched: new Counter({ name: "ntx_market_matched_total", help: "Matches published", registers: [registry] }),
    confirmed: new Counter({ name: "ntx_market_confirmed_total", help: "Matches confirmed by their provider", registers: [registry] }),
    lapsed: new Counter({ name: "ntx_market_lapsed_total", help: "Matches whose confirmation window lapsed", registers: [registry] }),
    noFit: new Counter({ name: "ntx_market_no_fit_total", help: "Bids that found no fitting offer (retried later)", registers: [registry] }),
    casConflicts: new Counter({ name: "ntx_market_cas_conflicts_total", help: "Capacity compare-and-set conflicts (another writer won)", registers: [registry] }),
    bidToMatchSeconds: new Histogram({ name: "ntx_market_bid_to_match_seconds", help: "From bid delivery to match stored", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    reject(kind, reason) {
      rejected.inc({ kind, reason });
    },
  };
}
