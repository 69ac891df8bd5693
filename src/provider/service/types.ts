import { z } from "zod/v4";
import { ServiceSpec } from "../../market/schemas.js";

/**
 * The provider's seams for long-running services (issue #12): what runs one (`ServiceRunner`, Docker in
 * production) and how it is paid (`LeaseSettlement`, the lease escrow on-chain). The lease keeper
 * (lease-keeper.ts) drives both; it knows neither Docker nor Lucid.
 */

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, "expected 32 bytes of lowercase hex");

export const serviceRequestSchema = z.object({
  jobHash: hex32,
  image: z.string().min(1).max(512),
  /** argv; empty means the image's own entrypoint + cmd. */
  command: z.array(z.string().max(64 * 1024)).max(4096),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(64 * 1024)).default({}),
  resources: z.object({
    cpuCores: z.number().positive().max(1024),
    memoryMiB: z.number().int().min(8).max(4 * 1024 * 1024),
    pids: z.number().int().min(8).max(1_000_000).default(1024),
  }),
  /** Restart, volume, ports, health, files, where secrets go (the bytes never come through here) and scratch folders. */
  service: ServiceSpec,
});
export type ServiceRequest = z.infer<typeof serviceRequestSchema>;
export type ServiceRequestInput = z.input<typeof serviceRequestSchema>;

/** Secret files handed to a start: held in memory, written only to a tmpfs. */
export type ServiceSecrets = Record<string, Uint8Array>;

export interface PublishedPort {
  container: number;
  protocol: "tcp" | "udp";
  hostPort: number;
}

export interface ServiceHandle {
  jobHash: string;
  containerId: string;
  /** Host folder the service's volume is mounted at (a loop-mounted file system of its own). */
  volumePath?: string;
  ports: PublishedPort[];
}

export interface ServiceStatus {
  running: boolean;
  restarts: number;
  exitCode: number | null;
  oomKilled: boolean;
  /** Healthy per the spec's contract; null when it could not be asked (container down). */
  healthy: boolean | null;
  /** The metric's value on a Prometheus contract. */
  metric?: number;
  /** The values of the other metrics asked for (those the endpoint serves). */
  metrics?: Record<string, number>;
  detail?: string;
}

export interface ServiceRunner {
  /** Starts the service, or adopts the one already running for this job (after a provider restart). */
  start(request: ServiceRequestInput, secrets?: ServiceSecrets): Promise<ServiceHandle>;
  /** Running state and health per the spec's contract; `metrics` names more values to read from a Prometheus endpoint. */
  status(handle: ServiceHandle, request: ServiceRequestInput, metrics?: readonly string[]): Promise<ServiceStatus>;
  /** Stops the service (SIGTERM, then SIGKILL after the grace) and keeps its volume. */
  stop(handle: ServiceHandle, graceMs?: number): Promise<void>;
  /** Removes the service and its volume for good (the lease is over). Idempotent. */
  remove(handle: ServiceHandle): Promise<void>;
  list(): Promise<ServiceHandle[]>;
}

/* ---- the lease, as the provider needs it ---- */

export interface LeaseRef {
  txHash: string;
  outputIndex: number;
}

/**
 * A lease escrow output as the provider sees it on-chain (issue #12 part 1's datum): it pays `ratePerSecond` NTX
 * base units a second of ledger time since the last claim (floor(rate × ms / 1000), the validator's rule), up to
 * its end and its balance.
 */
export interface ObservedLease {
  ref: LeaseRef;
  jobHash: string;
  /** NTX base units the output holds (what can still be paid out). */
  balance: bigint;
  ratePerSecond: bigint;
  /** POSIX ms of the last claim (or the lease's start). */
  lastClaimMs: number;
  /** POSIX ms after which the lease is over (anyone may settle). */
  endMs: number;
  /** How long before the lease runs dry the buyer is warned (from the datum). */
  noticeMs: number;
}

/** The lease escrow, seen from the provider; the real one is chain-lease-settlement.ts over offchain/tx/lease-*.ts. */
export interface LeaseSettlement {
  /** This provider's unspent lease outputs. */
  listLeases(): Promise<ObservedLease[]>;
  /** Chain time, POSIX ms. */
  now(): Promise<number>;
  /** Claims what has accrued on each lease in one transaction; resolves once confirmed. */
  claim(leases: readonly ObservedLease[]): Promise<{ txHash: string }>;
}
