import { readFile } from "node:fs/promises";
import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";

/**
 * Provider configuration: a JSON file, with a few fields overridable from the environment (NTX_PROVIDER_*).
 * Amounts are NTX base units; in the file they are decimal strings (JSON has no bigint).
 */

const token = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lowercase token [a-z0-9_-]");
const amount = z
  .union([z.string().regex(/^(0|[1-9][0-9]*)$/, "decimal base units"), z.bigint(), z.number().int().nonnegative()])
  .transform((v) => BigInt(v))
  .refine((v) => v >= 0n && v < 2n ** 63n, "amount out of range");

const MiB = 1024 * 1024;

export const providerLimitsSchema = z.object({
  maxCpuCores: z.number().int().positive(),
  maxMemoryMiB: z.number().int().positive(),
  /** Work dir + outputs of one job (tmpfs: host RAM, added on top of the job's memory limit). */
  maxDiskGiB: z.number().int().nonnegative().default(1),
  maxGpus: z.number().int().nonnegative().default(0),
  maxPids: z.number().int().min(16).default(512),
  maxDurationMs: z.number().int().positive().default(6 * 60 * 60 * 1000),
  maxLogBytes: z.number().int().positive().default(16 * MiB),
  maxOutputBytes: z.number().int().positive().default(256 * MiB),
  /** Time kept after a job's timeout to get Complete on-chain before the escrow deadline. */
  completeMarginMs: z.number().int().nonnegative().default(60_000),
  /** Jobs run at once. */
  maxConcurrentJobs: z.number().int().positive().default(1),
  /**
   * One claim build on the daemon's build thread, waiting included; over it the thread is replaced and the claim is
   * tried again on the next pass. A full batch (MAX_CLAIM_BATCH) took 85 s on a loaded 2-core machine.
   */
  claimBuildTimeoutMs: z.number().int().positive().default(300_000),
});
export type ProviderLimits = z.infer<typeof providerLimitsSchema>;

/** The escrow terms signed into every offer (DESIGN §4); the defaults accept no arbiter. */
export const providerTermsSchema = z.object({
  arbiters: z.array(z.string().regex(/^[0-9a-f]{56}$/, "28-byte key hash, lowercase hex")).max(16).default([]),
  maxChallengeWindowMs: z.number().int().nonnegative().default(24 * 60 * 60 * 1000),
  maxDeadlineMs: z.number().int().positive().default(7 * 24 * 60 * 60 * 1000),
  lockWindowMs: z.number().int().positive().default(10 * 60 * 1000),
});

export const providerConfigSchema = z.object({
  regions: z.array(token).min(1).default(["local"]),
  attributes: z.record(token, z.string().max(128)).default({}),
  prices: z.object({ cpuCoreHour: amount, memoryGiBHour: amount, diskGiBHour: amount, gpuHour: amount }),
  /** Allow-list of images: exact references, or `repo:*` / `repo@*` for any tag / digest of a repository. */
  images: z.array(z.string().min(1)).min(1),
  keys: z.object({ proofKeyFile: z.string().min(1), paymentKeyFile: z.string().min(1) }),
  limits: providerLimitsSchema,
  terms: providerTermsSchema.prefault({}),
  stateDir: z.string().min(1).default(".ntx/provider"),
  /** Where job data lands on the host; its free space is what `detect` reports as disk. */
  dockerRoot: z.string().min(1).default("/var/lib/docker"),
  keeperBinary: z.string().min(1).default("/bin/busybox"),
  natsUrl: z.string().min(1).optional(),
  /** Blockfrost-compatible chain URL (the devnet chain server, or Blockfrost itself); default per network. */
  chainUrl: z.string().url().optional(),
  network: z.enum(["devnet", "preview", "preprod", "mainnet"]).default("devnet"),
  escrow: z
    .object({
      /** `<txHash>#<index>` of the UTxO carrying the escrow script as a reference script. */
      referenceScript: z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index"),
      /** The NTX asset (hex policy id and asset name); mainnet's is the default there. */
      ntx: z.object({ policyId: z.string(), assetName: z.string() }).partial().optional(),
    })
    .optional(),
  /**
   * Service jobs (stake-pool nodes), paid by the lease escrow: present = this provider takes them. Without
   * `referenceScript` every lease transaction carries the lease script inline (1.8 KB dearer).
   */
  lease: z
    .object({
      /** `<txHash>#<index>` of the UTxO carrying lease.spend as a reference script. */
      referenceScript: z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index").optional(),
      /** Claim at least this often... */
      claimIntervalMs: z.number().int().min(1000).default(24 * 60 * 60 * 1000),
      /** ...or as soon as this much has accrued (a claim costs a fee: don't claim dust). */
      minClaim: amount.default(10n ** 12n),
      /** Stop a service this long before its paid time ends (a stop must land before the money does). */
      stopMarginMs: z.number().int().nonnegative().default(10 * 60 * 1000),
      /** How often leases are read and the schedule applied. */
      tickMs: z.number().int().min(100).default(30_000),
    })
    .optional(),
  /** Offers are re-published this often (heartbeat) and expire after 3 periods. */
  offerIntervalMs: z.number().int().min(1000).default(15_000),
  /** How often escrows and claims are re-checked. */
  pollIntervalMs: z.number().int().min(100).default(5_000),
});
export type ProviderConfig = z.infer<typeof providerConfigSchema>;
export type ProviderConfigInput = z.input<typeof providerConfigSchema>;

export function parseProviderConfig(input: unknown): ProviderConfig {
  const parsed = providerConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new NtxError("PROVIDER_CONFIG_INVALID", `provider config is invalid: ${issues}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

/** Environment overrides, applied over the file before validation. */
function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.NTX_PROVIDER_NATS_URL) out.natsUrl = env.NTX_PROVIDER_NATS_URL;
  if (env.NTX_PROVIDER_CHAIN_URL) out.chainUrl = env.NTX_PROVIDER_CHAIN_URL;
  if (env.NTX_NETWORK) out.network = env.NTX_NETWORK;
  if (env.NTX_PROVIDER_STATE_DIR) out.stateDir = env.NTX_PROVIDER_STATE_DIR;
  if (env.NTX_PROVIDER_REGIONS) out.regions = env.NTX_PROVIDER_REGIONS.split(",").map((s) => s.trim()).filter(Boolean);
  return out;
}

export async function loadProviderConfig(params: { file?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProviderConfig> {
  const env = params.env ?? process.env;
  const file = params.file ?? env.NTX_PROVIDER_CONFIG;
  if (!file) throw new NtxError("PROVIDER_CONFIG_MISSING", "no provider config: pass --config FILE or set NTX_PROVIDER_CONFIG");
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new NtxError("PROVIDER_CONFIG_INVALID", `cannot read provider config ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new NtxError("PROVIDER_CONFIG_INVALID", `provider config ${file} is not a JSON object`);
  const keys = { ...((raw as { keys?: Record<string, unknown> }).keys ?? {}) };
  if (env.NTX_PROVIDER_PROOF_KEY_FILE) keys.proofKeyFile = env.NTX_PROVIDER_PROOF_KEY_FILE;
  if (env.NTX_PROVIDER_PAYMENT_KEY_FILE) keys.paymentKeyFile = env.NTX_PROVIDER_PAYMENT_KEY_FILE;
  return parseProviderConfig({ ...raw, ...fromEnv(env), keys });
}
