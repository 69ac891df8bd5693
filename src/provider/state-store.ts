import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";
import { runRequestSchema } from "./types.js";

/**
 * The provider's memory across restarts: one record per job, in a JSON file replaced atomically (write + rename)
 * on every change. What the market decided (`desired`, written once by `accept`) is kept apart from what the
 * provider observed (`observed`, written by the daemon). The chain stays the source of truth for money: this
 * file only says where to look.
 */

export const JobPhase = {
  AwaitingEscrow: "awaiting-escrow",
  /** A valid escrow is on-chain; the job waits for a free slot or is starting. */
  Locked: "locked",
  Running: "running",
  Ran: "ran",
  Completed: "completed",
  Settled: "settled",
  /** The escrow was refused (outside this provider's terms or the bid's). */
  Refused: "refused",
  /** No escrow within the lock window: the match is given up and its capacity freed. */
  Released: "released",
  Failed: "failed",
} as const;
export type JobPhase = (typeof JobPhase)[keyof typeof JobPhase];

const outRef = z.object({ txHash: z.string().regex(/^[0-9a-f]{64}$/), outputIndex: z.number().int().nonnegative() });
const bigintString = z.string().regex(/^(0|[1-9][0-9]*)$/);
const keyHash = z.string().regex(/^[0-9a-f]{56}$/);
const ms = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** The provider's escrow terms as signed in the offer the job was matched on (kept: config may change later). */
export const escrowTermsSchema = z.object({ arbiters: z.array(keyHash).max(16), maxChallengeWindowMs: ms, maxDeadlineMs: ms, lockWindowMs: ms });
export type EscrowTerms = z.infer<typeof escrowTermsSchema>;
/** What the buyer's signed bid asked the escrow to say. */
export const bidTermsSchema = z.object({ challengeWindowMs: ms, arbiter: keyHash.optional() });
export type BidTerms = z.infer<typeof bidTermsSchema>;

export const jobRecordSchema = z.object({
  jobHash: z.string().regex(/^[0-9a-f]{64}$/),
  desired: z.object({
    request: runRequestSchema,
    price: bigintString,
    /** Escrow deadline the bid named: the job is given up once chain time passes it. */
    deadline: z.number().int(),
    matchId: z.string().optional(),
    acceptedAt: z.number().int(),
    /** When the match was made (the deadline horizon counts from it). */
    matchedAt: z.number().int(),
    terms: escrowTermsSchema,
    bidTerms: bidTermsSchema,
  }),
  observed: z.object({
    phase: z.nativeEnum(JobPhase),
    escrow: outRef.optional(),
    handle: z.object({ jobHash: z.string(), containerId: z.string(), execId: z.string().optional(), volumeName: z.string(), startedAt: z.number() }).optional(),
    result: z
      .object({
        resultHash: z.string().regex(/^[0-9a-f]{64}$/),
        exitCode: z.number().int().nullable(),
        oomKilled: z.boolean(),
        timedOut: z.boolean(),
        logTruncated: z.boolean(),
        outputTooLarge: z.boolean(),
        imageId: z.string(),
        archiveFile: z.string(),
        stored: z.string().optional(),
      })
      .optional(),
    completeTx: z.string().optional(),
    claimTx: z.string().optional(),
    /** How the job ended when it was not paid through this provider's claim (buyer accepted, refund, …). */
    settledBy: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    attempts: z.number().int().nonnegative().default(0),
    /** The phase whose job event the stream acknowledged; another phase here means its event is still to go out. */
    announced: z.nativeEnum(JobPhase).optional(),
    updatedAt: z.number().int(),
  }),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

const fileSchema = z.object({ version: z.literal(1), jobs: z.record(z.string(), jobRecordSchema) });

export class JobStateStore {
  private jobs = new Map<string, JobRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<JobStateStore> {
    const store = new JobStateStore(dir);
    await mkdir(join(dir, "results"), { recursive: true, mode: 0o700 });
    let text: string | undefined;
    try {
      text = await readFile(store.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new NtxError("PROVIDER_STATE_UNREADABLE", `cannot read ${store.file}: ${(error as Error).message}`);
    }
    if (text !== undefined) {
      const parsed = fileSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new NtxError("PROVIDER_STATE_UNREADABLE", `${store.file} is not a provider state file: ${parsed.error.issues[0]?.message}`);
      for (const [k, v] of Object.entries(parsed.data.jobs)) store.jobs.set(k, v);
    }
    return store;
  }

  get file(): string {
    return join(this.dir, "jobs.json");
  }

  resultFile(jobHash: string): string {
    return join(this.dir, "results", `${jobHash}.tar`);
  }

  get(jobHash: string): JobRecord | undefined {
    const r = this.jobs.get(jobHash);
    return r === undefined ? undefined : structuredClone(r);
  }

  all(): JobRecord[] {
    return [...this.jobs.values()].map((r) => structuredClone(r));
  }

  /**
   * Copies of the records `wanted` picks (it reads the stored record: it must not change it). The daemon looks at
   * its open jobs several times a pass; copying every record ever kept (settled ones stay for `status`) each time
   * cost more the longer a provider ran.
   */
  select(wanted: (record: JobRecord) => boolean): JobRecord[] {
    const out: JobRecord[] = [];
    for (const r of this.jobs.values()) if (wanted(r)) out.push(structuredClone(r));
    return out;
  }

  async put(record: JobRecord): Promise<void> {
    this.jobs.set(record.jobHash, jobRecordSchema.parse(record));
    await this.flush();
  }

  async observe(jobHash: string, change: Partial<JobRecord["observed"]>): Promise<JobRecord> {
    const current = this.jobs.get(jobHash);
    if (!current) throw new NtxError("JOB_UNKNOWN", `no job ${jobHash} in the provider state`);
    const next: JobRecord = { ...current, observed: { ...current.observed, ...change, updatedAt: Date.now() } };
    await this.put(next);
    return structuredClone(next);
  }

  /** Notes that the event of `phase` is out (acknowledged), if the job is still in that phase. */
  async announced(jobHash: string, phase: JobPhase): Promise<void> {
    const current = this.jobs.get(jobHash);
    if (!current || current.observed.phase !== phase || current.observed.announced === phase) return;
    await this.put({ ...current, observed: { ...current.observed, announced: phase } });
  }

  /** Serialised writes: each one replaces the whole file with the current map. */
  private flush(): Promise<void> {
    const snapshot = JSON.stringify({ version: 1, jobs: Object.fromEntries(this.jobs) }, null, 1);
    this.writing = this.writing.then(async () => {
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.file);
    });
    return this.writing;
  }
}

