import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod/v4";
import { NtxError } from "../../../offchain/errors.js";
import type { EventSink } from "../types.js";
import { LeaseKeeper, type LeaseKeeperParams } from "./lease-keeper.js";
import { serviceRequestSchema, type LeaseSettlement, type ServiceRequestInput, type ServiceRunner } from "./types.js";

/**
 * The provider's service side in one place: the service jobs it took (kept in `<stateDir>/services.json`, so a
 * restarted provider takes them up again), each started once its lease output is on-chain (or dropped when none
 * appears within the lock window), secrets opened from sealed bundles (kept sealed in the state folder and opened
 * again after a restart), and the lease keeper's schedule on a timer. The market loop calls `accept`; the secret
 * inbox calls `lookup` and `onSecrets`.
 */

const Kept = z.array(
  z.object({
    request: serviceRequestSchema,
    buyerKey: z.string().regex(/^[0-9a-f]{64}$/),
    acceptedAt: z.number().int().nonnegative(),
    lockWindowMs: z.number().int().positive(),
    /** It ran at least once: after a restart it is taken up again whatever its lease (the keeper ends it properly). */
    started: z.boolean().optional(),
    /** The least NTX base units a second its lease must pay (the provider's prices for the job's resources). */
    minRatePerSecond: z.string().regex(/^[0-9]{1,40}$/).optional(),
  }),
);
type KeptJob = z.infer<typeof Kept>[number];

export interface ServiceHostParams {
  runner: ServiceRunner;
  settlement: LeaseSettlement;
  stateDir: string;
  events?: EventSink;
  schedule: LeaseKeeperParams["schedule"];
  maxClaimBatch: number;
  healthMetrics?: readonly string[];
  tickMs?: number;
  clock?: () => number;
  onError?: (error: unknown, jobHash?: string) => void;
}

export class ServiceHost {
  readonly keeper: LeaseKeeper;
  private jobs = new Map<string, KeptJob>();
  /** Secrets opened for a job whose lease is not on-chain yet (held in memory until it starts). */
  private readonly waitingSecrets = new Map<string, Record<string, Uint8Array>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly params: ServiceHostParams) {
    this.keeper = new LeaseKeeper({
      settlement: params.settlement,
      runner: params.runner,
      schedule: params.schedule,
      maxClaimBatch: params.maxClaimBatch,
      ...(params.events ? { events: params.events } : {}),
      ...(params.healthMetrics ? { healthMetrics: params.healthMetrics } : {}),
      ...(params.clock ? { clock: params.clock } : {}),
      ...(params.onError ? { onError: params.onError } : {}),
    });
  }

  private now(): number {
    return (this.params.clock ?? Date.now)();
  }

  private get file(): string {
    return join(this.params.stateDir, "services.json");
  }

  private async save(): Promise<void> {
    await mkdir(this.params.stateDir, { recursive: true, mode: 0o700 });
    const next = `${this.file}.new`;
    await writeFile(next, JSON.stringify([...this.jobs.values()]), { mode: 0o600 });
    await rename(next, this.file);
  }

  /** Loads the jobs a previous run took; the caller then hands the kept sealed bundles to the inbox (`sealedBundles`). */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch {
      return;
    }
    const parsed = Kept.safeParse(JSON.parse(text));
    if (!parsed.success) throw new NtxError("STATE_INVALID", `${this.file} is not a services file`);
    this.jobs = new Map(parsed.data.map((j) => [j.request.jobHash, j]));
  }

  /** The sealed bundles kept in the state folder (to reopen after a restart). */
  async sealedBundles(): Promise<unknown[]> {
    const names = await readdir(this.params.stateDir).catch(() => [] as string[]);
    const bundles: unknown[] = [];
    for (const name of names.filter((n) => n.endsWith(".sealed.json")).sort()) {
      try {
        bundles.push(JSON.parse(await readFile(join(this.params.stateDir, name), "utf8")));
      } catch {
        this.params.onError?.(new NtxError("STATE_INVALID", `unreadable sealed bundle ${name}`));
      }
    }
    return bundles;
  }

  async keepSealed(jobHash: string, bundle: unknown): Promise<void> {
    const path = join(this.params.stateDir, `${jobHash.slice(0, 16)}.sealed.json`);
    await writeFile(`${path}.new`, JSON.stringify(bundle), { mode: 0o600 });
    await rename(`${path}.new`, path);
  }

  /** Takes on a matched service job; it starts when its lease appears on-chain. */
  async accept(params: { request: ServiceRequestInput; buyerKey: string; lockWindowMs: number; minRatePerSecond?: bigint }): Promise<void> {
    const request = serviceRequestSchema.parse(params.request);
    if (this.jobs.has(request.jobHash)) return;
    this.jobs.set(request.jobHash, { request, buyerKey: params.buyerKey, acceptedAt: this.now(), lockWindowMs: params.lockWindowMs, ...(params.minRatePerSecond === undefined ? {} : { minRatePerSecond: params.minRatePerSecond.toString() }) });
    await this.save();
  }

  /** The least rate a lease for this job must pay; undefined for a job this provider did not take. */
  minRatePerSecond(jobHash: string): bigint | undefined {
    const job = this.jobs.get(jobHash);
    return job ? BigInt(job.minRatePerSecond ?? "0") : undefined;
  }

  lookup(jobHash: string): { buyerKey: string; names: readonly string[] } | undefined {
    const job = this.jobs.get(jobHash);
    const names = job?.request.service.secrets?.names;
    return job && names ? { buyerKey: job.buyerKey, names } : undefined;
  }

  async onSecrets(jobHash: string, files: Record<string, Uint8Array>): Promise<void> {
    if (this.keeper.has(jobHash)) return this.keeper.updateSecrets(jobHash, files);
    this.waitingSecrets.set(jobHash, Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Uint8Array.from(v)])));
    await this.tick();
  }

  /** Starts services whose lease appeared, drops those whose lock window passed, then runs the keeper's pass. */
  async tick(): Promise<void> {
    const pending = [...this.jobs.values()].filter((j) => !this.keeper.has(j.request.jobHash));
    if (pending.length > 0) {
      let leased: Set<string>;
      try {
        leased = new Set((await this.params.settlement.listLeases()).map((l) => l.jobHash));
      } catch (error) {
        this.params.onError?.(error);
        leased = new Set();
      }
      for (const job of pending) {
        const hash = job.request.jobHash;
        try {
          if (leased.has(hash) || job.started) {
            const secrets = this.waitingSecrets.get(hash);
            // A producer starts only with its keys; it waits (its lease paying) until they are delivered.
            if (job.request.service.secrets && !secrets) continue;
            await this.keeper.add({ request: job.request, ...(secrets ? { secrets } : {}) });
            this.waitingSecrets.delete(hash);
            this.addedHere.add(hash);
            if (!job.started) { job.started = true; await this.save(); }
          } else if (this.now() > job.acceptedAt + job.lockWindowMs) {
            this.jobs.delete(hash);
            await this.save();
            await this.params.events?.publish({ kind: "job", jobHash: hash, phase: "released", at: this.now(), message: "released: no lease opened within the lock window" });
          }
        } catch (error) {
          this.params.onError?.(error, hash);
        }
      }
    }
    await this.keeper.tick();
    // The keeper drops a closed lease's service (and its volume): forget the job and its sealed keys too.
    const kept = new Set(this.keeper.services().map((s) => s.jobHash));
    let changed = false;
    for (const job of [...this.jobs.values()]) {
      if (this.addedHere.has(job.request.jobHash) && !kept.has(job.request.jobHash)) {
        this.jobs.delete(job.request.jobHash);
        this.addedHere.delete(job.request.jobHash);
        await rm(join(this.params.stateDir, `${job.request.jobHash.slice(0, 16)}.sealed.json`), { force: true });
        changed = true;
      }
    }
    if (changed) await this.save();
  }

  /** Jobs this process handed to the keeper (one it no longer holds was closed, not merely not yet re-added). */
  private readonly addedHere = new Set<string>();

  start(): void {
    const loop = () => {
      this.timer = setTimeout(() => void this.tick().catch((e: unknown) => this.params.onError?.(e)).finally(() => { if (this.timer) loop(); }), this.params.tickMs ?? 30_000);
    };
    loop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
