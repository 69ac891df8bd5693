import { latestHealth, summarizeMetrics } from "../pool/status.js";
import { POOL_NETWORKS, type PoolNetwork } from "../pool/networks.js";

/**
 * The pool page's card for a stake-pool node's job: sync progress and slot lag, peers, KES periods left, the
 * lease's balance and time left, from the provider's latest health report among the job's events. Plain lines,
 * so the page and its test render the same thing.
 */
export interface PoolCard {
  lines: string[];
  warnings: string[];
}

export function poolNetworkOf(env: unknown): PoolNetwork | undefined {
  const n = (env as { NETWORK?: unknown } | null)?.NETWORK;
  return typeof n === "string" && (POOL_NETWORKS as readonly string[]).includes(n) ? (n as PoolNetwork) : undefined;
}

export function poolCard(events: readonly unknown[], network: PoolNetwork, producer: boolean, nowMs: number, formatAmount: (baseUnits: string) => string): PoolCard | undefined {
  const health = latestHealth(events);
  if (!health) return undefined;
  const s = summarizeMetrics(health.metrics, network, health.at || nowMs, producer);
  const hoursLeft = Math.max(0, Math.round((health.stopAt - nowMs) / 3_600_000));
  const lines = [
    s.slot === null ? "Node: starting" : `Sync: ${s.syncPercent ?? "?"} % (${s.synced ? "at the tip" : `${s.lagSlots} slots behind`}), slot ${s.slot}`,
    `Peers: ${s.peers ?? "?"}${producer ? ` · KES periods left: ${s.kesPeriodsLeft ?? "?"}` : ""}`,
    `Lease: ${formatAmount(health.balance)} left · pays until ${new Date(health.paidUntil).toISOString().slice(0, 16).replace("T", " ")} UTC · the node stops in ${hoursLeft} h unless topped up`,
  ];
  if (!health.running) lines.push("The node is stopped.");
  if (health.restarts > 0) lines.push(`Restarted ${health.restarts} time(s).`);
  return { lines, warnings: s.warnings };
}
