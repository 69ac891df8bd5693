import { isNtxError, NtxError } from "../../../offchain/errors.js";
import type { EventSink } from "../types.js";
import { planLease, type ScheduleParams } from "./lease-schedule.js";
import type { LeaseSettlement, ObservedLease, ServiceHandle, ServiceRequestInput, ServiceRunner, ServiceSecrets } from "./types.js";

/**
 * Keeps each running service paid for: on every tick it reads the leases from the chain, claims what has accrued
 * (all due leases in as few transactions as the batch allows), tells the buyer once when a lease will run dry
 * (the notice of its datum, before the stop), stops the service when the paid time is about to end, starts it
 * again if the buyer tops the lease up, and removes service and volume once the lease is gone (closed or settled).
 * Add a service only once its lease output is on-chain.
 * A failed chain read changes nothing: a service is never stopped because the provider could not see its lease.
 */

export const LeasePhase = {
  Started: "service-started",
  Notice: "lease-notice",
  Claimed: "lease-claimed",
  Stopped: "lease-stopped",
  Closed: "lease-closed",
  Health: "service-health",
} as const;

/** What a health event's message holds (JSON): the page and `ntx pool status --job` read it. */
export interface ServiceHealth {
  running: boolean;
  healthy: boolean | null;
  restarts: number;
  metrics: Record<string, number>;
  /** The lease: NTX base units left, and the time it pays until (POSIX ms). */
  balance: string;
  paidUntil: number;
  stopAt: number;
}

export interface KeptService {
  request: ServiceRequestInput;
  secrets?: ServiceSecrets;
}

export interface LeaseKeeperParams {
  settlement: LeaseSettlement;
  runner: ServiceRunner;
  events?: EventSink;
  schedule: ScheduleParams;
  /** Leases per claim transaction (the lease builder's measured maximum; the lead wires it). */
  maxClaimBatch: number;
  /** Grace a stopping service gets between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  clock?: () => number;
  onError?: (error: unknown, jobHash?: string) => void;
  /** Publish each service's health (and the metrics below) at most this often; default a minute. */
  healthIntervalMs?: number;
  /** Prometheus metrics to report beside the health contract's own (a node's slot, peers, KES periods). */
  healthMetrics?: readonly string[];
}

interface Entry {
  service: KeptService;
  handle?: ServiceHandle;
  /** Stopped for want of funds or time (the lease still exists: a top-up starts it again). */
  stoppedForFunds: boolean;
  /** The paid-until the buyer was last warned about (a top-up moves it, and earns a new notice). */
  noticedFor?: number;
  /** Consecutive passes that did not see the lease on-chain. */
  missing: number;
  lastHealthAt?: number;
}

/** A lease must be missing this many passes in a row before its volume is deleted (one odd read must not wipe a chain DB). */
export const GONE_AFTER_PASSES = 3;

export class LeaseKeeper {
  private readonly entries = new Map<string, Entry>();
  private ticking: Promise<void> | undefined;
  readonly counters = { claims: 0, claimedLeases: 0, claimFailures: 0, notices: 0, stops: 0, closes: 0, readFailures: 0 };

  constructor(private readonly params: LeaseKeeperParams) {}

  /** Takes on a service whose lease is open (or was, before a provider restart: start() adopts its container). */
  async add(service: KeptService): Promise<ServiceHandle> {
    const jobHash = service.request.jobHash;
    if (service.secrets) service = { ...service, secrets: Object.fromEntries(Object.entries(service.secrets).map(([k, v]) => [k, Uint8Array.from(v)])) };
    const handle = await this.params.runner.start(service.request, service.secrets);
    this.entries.set(jobHash, { service, handle, stoppedForFunds: false, missing: 0 });
    await this.emit(jobHash, LeasePhase.Started, `service running${handle.ports.length ? `; published ${handle.ports.map((p) => `${p.hostPort}->${p.container}/${p.protocol}`).join(", ")}` : ""}`);
    return handle;
  }

  /**
   * New secrets for a running service (a KES rotation): written over the old ones in its tmpfs, then the service
   * restarts to read them (the node reads its keys at start).
   */
  async updateSecrets(jobHash: string, secrets: ServiceSecrets): Promise<void> {
    const entry = this.entries.get(jobHash);
    if (!entry) throw new NtxError("SECRETS_UNKNOWN_JOB", "no such service");
    // A copy: the caller wipes its buffers once handed over.
    entry.service = { ...entry.service, secrets: Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, Uint8Array.from(v)])) };
    if (entry.stoppedForFunds) return;
    if (entry.handle) await this.params.runner.stop(entry.handle, this.params.stopGraceMs);
    entry.handle = await this.params.runner.start(entry.service.request, entry.service.secrets);
  }

  has(jobHash: string): boolean {
    return this.entries.has(jobHash);
  }

  services(): Array<{ jobHash: string; handle?: ServiceHandle; stoppedForFunds: boolean }> {
    return [...this.entries].map(([jobHash, e]) => ({ jobHash, ...(e.handle ? { handle: e.handle } : {}), stoppedForFunds: e.stoppedForFunds }));
  }

  /** One pass; concurrent calls share it. */
  tick(): Promise<void> {
    this.ticking ??= this.pass().finally(() => { this.ticking = undefined; });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    if (this.entries.size === 0) return;
    const { settlement } = this.params;
    let leases: ObservedLease[];
    let now: number;
    try {
      [leases, now] = await Promise.all([settlement.listLeases(), settlement.now()]);
    } catch (error) {
      this.counters.readFailures++;
      this.params.onError?.(error);
      return;
    }
    const byJob = new Map(leases.map((l) => [l.jobHash, l]));
    const due: ObservedLease[] = [];
    for (const [jobHash, entry] of [...this.entries]) {
      try {
        const lease = byJob.get(jobHash);
        if (!lease) {
          // Gone: a closed or settled lease pays nothing more, so the service stops now; the volume goes only
          // once the absence is confirmed.
          entry.missing++;
          if (entry.missing >= GONE_AFTER_PASSES) await this.close(jobHash, entry);
          else if (!entry.stoppedForFunds) {
            entry.stoppedForFunds = true;
            this.counters.stops++;
            if (entry.handle) await this.params.runner.stop(entry.handle, this.params.stopGraceMs);
            await this.emit(jobHash, LeasePhase.Stopped, "stopped: the lease is no longer on-chain (closed or settled)");
          }
          continue;
        }
        entry.missing = 0;
        const plan = planLease(lease, now, this.params.schedule);
        if (plan.claimNow) due.push(lease);
        if (plan.noticeNow && !plan.stopNow && entry.noticedFor !== plan.paidUntil && !entry.stoppedForFunds) {
          entry.noticedFor = plan.paidUntil;
          this.counters.notices++;
          await this.emit(jobHash, LeasePhase.Notice, `the lease pays until ${new Date(plan.paidUntil).toISOString()}; the service stops at ${new Date(plan.stopAt).toISOString()} unless the lease is topped up`);
        }
        if (plan.stopNow && !entry.stoppedForFunds) {
          entry.stoppedForFunds = true;
          this.counters.stops++;
          if (entry.handle) await this.params.runner.stop(entry.handle, this.params.stopGraceMs);
          const why = plan.paidUntil >= lease.endMs ? "the lease reached its end" : "the lease ran out of funds";
          await this.emit(jobHash, LeasePhase.Stopped, `stopped: ${why} (paid until ${new Date(plan.paidUntil).toISOString()}); the volume is kept while the lease is open`);
        } else if (!plan.stopNow && !entry.stoppedForFunds && entry.handle) {
          await this.reportHealth(jobHash, entry, lease.balance, plan.paidUntil, plan.stopAt);
        } else if (!plan.stopNow && entry.stoppedForFunds) {
          // Topped up: the same volume, a fresh start.
          entry.stoppedForFunds = false;
          entry.handle = await this.params.runner.start(entry.service.request, entry.service.secrets);
          await this.emit(jobHash, LeasePhase.Started, "service started again after a top-up");
        }
      } catch (error) {
        this.params.onError?.(error, jobHash);
      }
    }
    for (let i = 0; i < due.length; i += this.params.maxClaimBatch) {
      const batch = due.slice(i, i + this.params.maxClaimBatch);
      try {
        const { txHash } = await settlement.claim(batch);
        this.counters.claims++;
        this.counters.claimedLeases += batch.length;
        for (const lease of batch) await this.emit(lease.jobHash, LeasePhase.Claimed, `claimed accrued NTX in ${txHash}`, txHash);
      } catch (error) {
        // Claimed again on the next tick (the accrual only grows); a lease that cannot be claimed still stops in time.
        this.counters.claimFailures++;
        this.params.onError?.(error, isNtxError(error) ? undefined : batch[0]?.jobHash);
      }
    }
  }

  private async reportHealth(jobHash: string, entry: Entry, balance: bigint, paidUntil: number, stopAt: number): Promise<void> {
    const now = (this.params.clock ?? Date.now)();
    if (entry.lastHealthAt !== undefined && now - entry.lastHealthAt < (this.params.healthIntervalMs ?? 60_000)) return;
    entry.lastHealthAt = now;
    const status = await this.params.runner.status(entry.handle!, entry.service.request, this.params.healthMetrics ?? []);
    const health: ServiceHealth = { running: status.running, healthy: status.healthy, restarts: status.restarts, metrics: status.metrics ?? {}, balance: balance.toString(), paidUntil, stopAt };
    await this.emit(jobHash, LeasePhase.Health, JSON.stringify(health));
  }

  /** The lease output is gone (the buyer closed it, or it was settled after its end): stop and remove for good. */
  private async close(jobHash: string, entry: Entry): Promise<void> {
    if (entry.handle) {
      await this.params.runner.stop(entry.handle, this.params.stopGraceMs);
      await this.params.runner.remove(entry.handle);
    }
    this.entries.delete(jobHash);
    this.counters.closes++;
    await this.emit(jobHash, LeasePhase.Closed, "the lease is closed: service and volume removed");
  }

  private async emit(jobHash: string, phase: string, message: string, txHash?: string): Promise<void> {
    await this.params.events?.publish({ kind: "job", jobHash, phase, at: (this.params.clock ?? Date.now)(), message, ...(txHash ? { txHash } : {}) });
  }
}
