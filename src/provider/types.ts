import { z } from "zod/v4";

/**
 * The provider's seams. `JobRunner` is what executes a job (Docker in production, `NoopRunner` in unit tests);
 * the chain and market sides are reached through the small interfaces below so the daemon can be exercised
 * against fakes and wired to the real escrow/market code in one place (`src/provider/wiring.ts`).
 */

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, "expected 32 bytes of lowercase hex");

/** What the market decided a job may use. Limits are hard: the container never gets more. */
export const runResourcesSchema = z.object({
  cpuCores: z.number().positive().max(1024),
  memoryMiB: z.number().int().min(8).max(4 * 1024 * 1024),
  pids: z.number().int().min(8).max(1_000_000).default(256),
  gpus: z.number().int().min(0).max(64).default(0),
  /** The GPUs the match reserved (device indices or UUIDs): the container gets exactly these, never "any n". */
  gpuDevices: z.array(z.string().regex(/^[A-Za-z0-9-]{1,64}$/)).max(64).optional(),
}).refine((r) => r.gpuDevices === undefined || r.gpuDevices.length === r.gpus, "gpuDevices must name exactly `gpus` devices");
export type RunResources = z.infer<typeof runResourcesSchema>;

export const runLimitsSchema = z.object({
  /** Wall-clock time from exec start to kill. */
  timeoutMs: z.number().int().positive(),
  /** Size of the writable tmpfs at `/work` (counts against the memory limit: tmpfs pages are memory). */
  workDirBytes: z.number().int().positive(),
  /** Size of the tmpfs the job writes its outputs to, at `/out`; also the cap of the collected archive. */
  outputBytes: z.number().int().positive(),
  /** stdout+stderr bytes streamed before the job is killed for flooding. */
  logBytes: z.number().int().positive(),
});
export type RunLimits = z.infer<typeof runLimitsSchema>;

export const runRequestSchema = z.object({
  jobHash: hex32,
  /** `<txHash>#<index>` of the escrow output paying for this run, when there is one (labels, reports). */
  escrowRef: z.string().max(200).optional(),
  image: z.string().min(1).max(512),
  /** argv of the job; empty means the image's own entrypoint + cmd. */
  command: z.array(z.string().max(64 * 1024)).max(4096),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(64 * 1024)).default({}),
  resources: runResourcesSchema,
  limits: runLimitsSchema,
});
export type RunRequest = z.infer<typeof runRequestSchema>;
export type RunRequestInput = z.input<typeof runRequestSchema>;

export const RunState = {
  Preparing: "preparing",
  Running: "running",
  Collecting: "collecting",
  Finished: "finished",
  Failed: "failed",
} as const;
export type RunState = (typeof RunState)[keyof typeof RunState];

export type RunEvent =
  | { kind: "state"; jobHash: string; state: RunState; at: number; detail?: string }
  | { kind: "log"; jobHash: string; stream: "stdout" | "stderr"; line: string; at: number };

export interface RunOutputs {
  /** File holding the canonical tar of `/out` (tree-ordered entries, fixed times/owners): what `resultHash` hashes. */
  archiveFile: string;
  archiveBytes: number;
  /** blake2b-256 of the archive, lowercase hex. */
  resultHash: string;
  /** Regular files (hard links not counted) and the bytes of their data. */
  files: number;
  bytes: number;
}

export interface RunResult {
  jobHash: string;
  /** The image ID the job actually ran (`sha256:…`), whatever reference it was asked for by. */
  imageId: string;
  /** Exit code of the job's process; null when it was killed by the provider (timeout, log flood). */
  exitCode: number | null;
  /** The kernel OOM-killed some process of the job (not necessarily the main one: see exitCode). */
  oomKilled: boolean;
  timedOut: boolean;
  logTruncated: boolean;
  logBytes: number;
  /** The outputs were larger than `limits.outputBytes` and were not collected. */
  outputTooLarge: boolean;
  outputs: RunOutputs;
  startedAt: number;
  finishedAt: number;
}

/** Where a run lives, so a restarted provider can find it again (persisted in the provider's state file). */
export interface RunHandle {
  jobHash: string;
  containerId: string;
  execId?: string;
  volumeName: string;
  startedAt: number;
}

export interface RunOptions {
  /** Where the canonical result archive is written (default: a file in the OS temp folder). */
  archiveFile?: string;
  onEvent?: (event: RunEvent) => void;
  /** Called once the job's process is running, with what it takes to find it again after a restart. */
  onStarted?: (handle: RunHandle) => void | Promise<void>;
}

export interface JobRunner {
  run(request: RunRequestInput, options?: RunOptions): Promise<RunResult>;
  /**
   * Carries a run found after a restart to an end: collects its outputs when the job had finished, otherwise
   * discards what is left and returns null (the caller runs it again if the deadline still allows).
   */
  resume(handle: RunHandle, request: RunRequestInput, options?: RunOptions): Promise<RunResult | null>;
  /** Runs this runner still has on the host (for `status` and restarts). */
  list(): Promise<RunHandle[]>;
  /** Removes whatever is left of a run (container, volume). Idempotent. */
  discard(handle: RunHandle): Promise<void>;
}

/* ---- chain side ---- */

export interface OutRef {
  txHash: string;
  outputIndex: number;
}

/** An escrow output as the provider sees it on-chain: its datum, and the NTX its value really holds. */
export interface ObservedEscrow {
  outRef: OutRef;
  /** NTX base units in the output's value (may differ from what the datum claims: both are checked). */
  ntxInValue: bigint;
  jobHash: string;
  amount: bigint;
  payout: string;
  proofKey: string;
  deadline: number;
  challengeWindow: number;
  /** Arbiter key hash named in the datum (it can settle a dispute with any split), or null. */
  arbiter: string | null;
  /** Lovelace the output holds, and the least it must hold for every later state (Completed, Disputed, payout). */
  lovelace: bigint;
  minLovelace: bigint;
  state: { kind: "locked" } | { kind: "completed"; resultHash: string; completedAt: number } | { kind: "disputed" };
}

/**
 * The escrow, seen from the provider. The real one (chain/escrow-gateway.ts) reads UTxOs through the project's
 * `Chain` and builds transactions with the offchain builders; tests of the daemon logic use an in-memory one.
 */
export interface EscrowGateway {
  /** Unspent escrow outputs whose datum names this job (usually none or one). */
  findEscrows(jobHash: string): Promise<ObservedEscrow[]>;
  /** The escrow output at `outRef` while unspent; null once spent (paid out, refunded, or moved on). */
  getEscrow(outRef: OutRef): Promise<ObservedEscrow | null>;
  /** Chain time, POSIX ms (validity ranges are checked against it, not the local clock). */
  now(): Promise<number>;
  /** Submits Complete with the proof; resolves once confirmed, with the continuing (Completed) output. */
  submitComplete(params: { escrow: ObservedEscrow; resultHash: string; signature: string }): Promise<{ txHash: string; completed: OutRef }>;
  /** Claims several Completed escrows past their challenge window in one transaction; resolves once confirmed. */
  submitClaim(escrows: readonly ObservedEscrow[]): Promise<{ txHash: string }>;
}

/** Where a provider publishes what it observes (NATS subjects `ntx.jobs.<jobHash>.events|logs`). */
export interface EventSink {
  publish(event: RunEvent | ProviderJobEvent): Promise<void> | void;
}

export type ProviderJobEvent = {
  kind: "job";
  jobHash: string;
  phase: string;
  at: number;
  message?: string;
  resultHash?: string;
  exitCode?: number | null;
  txHash?: string;
};

/** Where results go (NATS object store by default); returns a locator the buyer can fetch. */
export interface ResultStore {
  /** Uploads the archive in `archiveFile` (streamed: results can be large). */
  put(jobHash: string, archiveFile: string, onProgress?: (sent: number, total: number) => void): Promise<string>;
}
