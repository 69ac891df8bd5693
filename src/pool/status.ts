import { readMetric } from "../provider/service/prometheus.js";
import { KES_WARN_PERIODS } from "./kes.js";
import type { PoolNetwork } from "./networks.js";

/**
 * A node's health as an operator reads it: its slot against the network's tip (estimated from the wall clock:
 * one slot a second since the Shelley era, so slot = unix seconds − the network's offset), its peers and the KES
 * periods its certificate has left, with the warnings that call for action.
 */

/** slot ≈ unix seconds − offset (the Shelley-era slot clock of each network). */
export const SLOT_OFFSET_S: Record<PoolNetwork, number> = { mainnet: 1_591_566_291, preprod: 1_655_683_200, preview: 1_666_656_000 };
/** Within this many slots of the tip a node counts as synced (a block is about 20 slots). */
export const SYNCED_LAG_SLOTS = 120;

export const METRIC = {
  slot: "cardano_node_metrics_slotNum_int",
  peers: "cardano_node_metrics_connectedPeers_int",
  kes: "cardano_node_metrics_remainingKESPeriods_int",
} as const;

export interface NodeSummary {
  slot: number | null;
  tipSlot: number;
  lagSlots: number | null;
  /** Share of the chain's slots the node has reached, 0..100. */
  syncPercent: number | null;
  synced: boolean;
  peers: number | null;
  kesPeriodsLeft: number | null;
  warnings: string[];
}

export function estimatedTip(network: PoolNetwork, nowMs: number): number {
  return Math.max(0, Math.floor(nowMs / 1000) - SLOT_OFFSET_S[network]);
}

export function summarizeNode(metricsText: string, network: PoolNetwork, nowMs: number, producer: boolean): NodeSummary {
  const values: Record<string, number> = {};
  for (const name of Object.values(METRIC)) {
    const v = readMetric(metricsText, name);
    if (v !== undefined) values[name] = v;
  }
  return summarizeMetrics(values, network, nowMs, producer);
}

/** The same from metric values already read (the provider's health events carry them). */
export function summarizeMetrics(values: Record<string, number>, network: PoolNetwork, nowMs: number, producer: boolean): NodeSummary {
  const slot = values[METRIC.slot] ?? null;
  const peers = values[METRIC.peers] ?? null;
  const kes = values[METRIC.kes] ?? null;
  const tipSlot = estimatedTip(network, nowMs);
  const lag = slot === null ? null : Math.max(0, tipSlot - slot);
  const warnings: string[] = [];
  if (slot === null) warnings.push("the node reports no slot yet (starting, or replaying its database)");
  else if (lag! > SYNCED_LAG_SLOTS) warnings.push(`syncing: ${lag} slots behind the tip`);
  if (peers !== null && peers === 0) warnings.push("no connected peers");
  if (producer) {
    if (kes === null) warnings.push("the producer reports no KES periods: are its keys delivered?");
    else if (kes <= 0) warnings.push("the KES key has expired: the producer makes no blocks until `ntx pool rotate-kes`");
    else if (kes <= KES_WARN_PERIODS) warnings.push(`only ${kes} KES periods left (~${Math.round(kes * 1.5)} days): rotate with \`ntx pool rotate-kes\``);
  }
  return {
    slot,
    tipSlot,
    lagSlots: lag,
    syncPercent: slot === null || tipSlot === 0 ? null : Math.min(100, Math.floor((slot / tipSlot) * 10_000) / 100),
    synced: lag !== null && lag <= SYNCED_LAG_SLOTS,
    peers,
    kesPeriodsLeft: kes,
    warnings,
  };
}

/** The provider's latest `service-health` event of a job (a `running` event whose message is its JSON), if any. */
export function latestHealth(events: readonly unknown[]): { metrics: Record<string, number>; balance: string; paidUntil: number; stopAt: number; running: boolean; restarts: number; at: number } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as { kind?: unknown; message?: unknown; at?: unknown } | null;
    if (!e || e.kind !== "running" || typeof e.message !== "string" || !e.message.startsWith("{")) continue;
    try {
      const h = JSON.parse(e.message) as Record<string, unknown>;
      const metrics = h.metrics;
      if (typeof metrics !== "object" || metrics === null || typeof h.balance !== "string" || typeof h.paidUntil !== "number" || typeof h.stopAt !== "number") continue;
      const clean: Record<string, number> = {};
      for (const [k, v] of Object.entries(metrics)) if (typeof v === "number" && Number.isFinite(v)) clean[k] = v;
      return { metrics: clean, balance: h.balance, paidUntil: h.paidUntil, stopAt: h.stopAt, running: h.running === true, restarts: typeof h.restarts === "number" ? h.restarts : 0, at: typeof e.at === "number" ? e.at : 0 };
    } catch {
      continue;
    }
  }
  return undefined;
}
