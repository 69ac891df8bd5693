import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { estimatedTip } from "../../src/pool/status.js";
import { poolCard, poolNetworkOf } from "../../src/web/pool-card.js";

/** The pool page's card from a job's events: sync, peers, KES periods, lease time left; junk events are skipped. */

const now = Date.UTC(2026, 10, 30, 6, 0, 0);
const health = (over: Record<string, unknown> = {}) => ({ kind: "running", at: now, message: JSON.stringify({ running: true, healthy: true, restarts: 0, metrics: { cardano_node_metrics_slotNum_int: estimatedTip("preprod", now) - 3_000, cardano_node_metrics_connectedPeers_int: 2, cardano_node_metrics_remainingKESPeriods_int: 5 }, balance: "2500000", paidUntil: now + 30 * 3_600_000, stopAt: now + 6 * 3_600_000, ...over }) });

describe("pool card", () => {
  it("shows sync progress, slot lag, peers, KES periods and the lease's time left, with warnings", () => {
    const card = poolCard([{ kind: "started" }, health(), { kind: "claimed", message: "claimed in ab" }], "preprod", true, now, (u) => `${Number(u) / 1e6} NTX`)!;
    expect(card.lines[0]).toMatch(/^Sync: 99\.\d+ % \(3000 slots behind\)/);
    expect(card.lines[1]).toBe("Peers: 2 · KES periods left: 5");
    expect(card.lines[2]).toMatch(/^Lease: 2\.5 NTX left · pays until 2026-12-01 12:00 UTC · the node stops in 6 h/);
    expect(card.warnings.join(" ")).toMatch(/only 5 KES periods left/);
    expect(card.warnings.join(" ")).toMatch(/syncing/);
  });

  it("takes the network only from a known NETWORK value, and never throws on junk events", () => {
    expect(poolNetworkOf({ NETWORK: "preview" })).toBe("preview");
    expect(poolNetworkOf({ NETWORK: "devnet" })).toBeUndefined();
    expect(poolNetworkOf(null)).toBeUndefined();
    expect(poolCard([{ kind: "running", message: "{bad" }], "mainnet", false, now, String)).toBeUndefined();
    fc.assert(fc.property(fc.array(fc.anything(), { maxLength: 5 }), (events) => { poolCard(events, "mainnet", false, now, String); }), { seed: 7, numRuns: 300 });
  });
});
