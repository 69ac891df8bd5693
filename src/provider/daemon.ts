import { writeFile } from "node:fs/promises";
import { Wallet } from "ethers";
import { isNtxError, NtxError } from "../../offchain/errors.js";
import { MAX_CLAIM_BATCH } from "../../offchain/tx/claim.js";
import { escrowRef, signCompletionProof, type CompletionProofFields } from "../../offchain/proof.js";
import { checkEscrow } from "./escrow-check.js";
import type { ProofKey } from "./keys.js";
import { JobPhase, type JobRecord, type JobStateStore } from "./state-store.js";
import type { EscrowGateway, EventSink, JobRunner, ObservedEscrow, OutRef, ResultStore, RunRequest, RunResult } from "./types.js";

export interface ProviderDaemonParams {
  runner: JobRunner;
  gateway: EscrowGateway;
  store: JobStateStore;
  proofKey: ProofKey;
  /** This provider's payout address (bech32): escrows must pay it. */
  payoutAddress: string;
  events?: EventSink;
  results?: ResultStore;
  maxConcurrentJobs?: number;
  /** Time kept after a job's timeout to submit Complete before the escrow deadline. */
  completeMarginMs?: number;
  /** Escrows per claim transaction; defaults to MAX_CLAIM_BATCH, the largest that fits (measured by bench:escrow). */
  claimBatchSize?: number;
  /** Runs that fail for a reason of the host (engine down…) are retried this many times. */
  maxAttempts?: number;
  signProof?: (fields: CompletionProofFields) => Promise<string>;
  onError?: (error: unknown, jobHash?: string) => void;
  /** Progress of result uploads (they can be large). */
  onUploadProgress?: (jobHash: string, sent: number, total: number) => void;
}

export interface AcceptParams {
  request: RunRequest;
  price: bigint;
  deadline: number;
  matchId?: string;
}

const OPEN_PHASES: readonly string[] = [JobPhase.AwaitingEscrow, JobPhase.Running, JobPhase.Ran, JobPhase.Completed];
/** Refusals that no retry can fix: the job or its escrow is wrong. */
const REFUSAL_CODES = new Set(["IMAGE_NOT_PINNED", "IMAGE_NOT_ALLOWED", "IMAGE_NOT_FOUND", "IMAGE_DIGEST_MISMATCH", "IMAGE_REFERENCE_INVALID", "RUN_REQUEST_INVALID"]);

function refText(ref: OutRef): string {
  return `${ref.txHash}#${ref.outputIndex}`;
}

/**
 * Carries each accepted job to a settled state: waits for its escrow, runs it, completes it with a signed proof,
 * claims it after the challenge window (batched). Every step first re-reads the chain, so a step interrupted by a
 * crash is neither lost nor repeated: a spent escrow is done, a Completed one is only claimed.
 */
export class ProviderDaemon {
  private readonly inflight = new Set<string>();
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly signProof: (fields: CompletionProofFields) => Promise<string>;
  private readonly waiters = new Map<string, Array<(r: JobRecord) => void>>();

  constructor(private readonly params: ProviderDaemonParams) {
    const wallet = new Wallet(params.proofKey.privateKey);
    this.signProof = params.signProof ?? ((fields) => signCompletionProof(wallet, fields));
  }

  get providerId(): string {
    return this.params.proofKey.providerId;
  }

  status(): JobRecord[] {
    return this.params.store.all();
  }

  /** Takes on a matched job (idempotent: accepting a known job changes nothing). */
  async accept(params: AcceptParams): Promise<JobRecord> {
    const jobHash = params.request.jobHash;
    const known = this.params.store.get(jobHash);
    if (known) return known;
    const now = Date.now();
    const record: JobRecord = {
      jobHash,
      desired: { request: params.request, price: params.price.toString(), deadline: params.deadline, ...(params.matchId ? { matchId: params.matchId } : {}), acceptedAt: now },
      observed: { phase: JobPhase.AwaitingEscrow, attempts: 0, updatedAt: now },
    };
    await this.params.store.put(record);
    await this.publishPhase(record, "accepted, waiting for the escrow");
    return record;
  }

  /** Resolves when the job reaches a final phase (settled, refused, failed). */
  whenDone(jobHash: string): Promise<JobRecord> {
    const current = this.params.store.get(jobHash);
    if (current && !OPEN_PHASES.includes(current.observed.phase)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const list = this.waiters.get(jobHash) ?? [];
      list.push(resolve);
      this.waiters.set(jobHash, list);
    });
  }

  start(intervalMs: number): void {
    const loop = async () => {
      await this.tick().catch((error: unknown) => this.params.onError?.(error));
      if (this.timer !== undefined) this.timer = setTimeout(loop, intervalMs);
    };
    this.timer = setTimeout(loop, 0);
  }

  /**
   * Stops the loop and waits for the current pass. Running jobs go on in their containers unless `waitForRuns`:
   * the next start finds them again by their handles.
   */
  async stop(options: { waitForRuns?: boolean } = {}): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    if (options.waitForRuns) await Promise.allSettled(this.running.values());
  }

  /** One pass over every open job; claims what is due in batches. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.pass().finally(() => { this.ticking = undefined; });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    for (const record of this.params.store.all()) {
      if (!OPEN_PHASES.includes(record.observed.phase) || this.inflight.has(record.jobHash)) continue;
      try {
        switch (record.observed.phase) {
          case JobPhase.AwaitingEscrow:
            await this.checkEscrowAndRun(record);
            break;
          case JobPhase.Running:
            await this.recoverRun(record);
            break;
          case JobPhase.Ran:
            await this.complete(record);
            break;
        }
      } catch (error) {
        this.params.onError?.(error, record.jobHash);
      }
    }
    await this.claimDue();
  }

  /** Claims every Completed escrow whose challenge window is over, in batches; returns the claim transactions. */
  async claimDue(): Promise<Array<{ txHash: string; jobHashes: string[] }>> {
    const due: Array<{ record: JobRecord; escrow: ObservedEscrow }> = [];
    for (const record of this.params.store.all()) {
      if (record.observed.phase !== JobPhase.Completed || this.inflight.has(record.jobHash)) continue;
      try {
        const escrow = await this.claimable(record);
        if (escrow) due.push({ record, escrow });
      } catch (error) {
        this.params.onError?.(error, record.jobHash);
      }
    }
    const claimed: Array<{ txHash: string; jobHashes: string[] }> = [];
    const size = this.params.claimBatchSize ?? MAX_CLAIM_BATCH;
    for (let i = 0; i < due.length; i += size) {
      const batch = due.slice(i, i + size);
      try {
        const { txHash } = await this.params.gateway.submitClaim(batch.map((d) => d.escrow));
        for (const { record } of batch) await this.finish(record.jobHash, { phase: JobPhase.Settled, claimTx: txHash, settledBy: "claim" }, `claimed in ${txHash}`);
        claimed.push({ txHash, jobHashes: batch.map((d) => d.record.jobHash) });
      } catch (error) {
        this.params.onError?.(error);
      }
    }
    return claimed;
  }

  /** The job's escrow output now: where the record says, or (after a crash mid-submit) found again by job. */
  private async locate(record: JobRecord): Promise<ObservedEscrow | null> {
    const { gateway } = this.params;
    if (record.observed.escrow) {
      const at = await gateway.getEscrow(record.observed.escrow);
      if (at) return at;
    }
    const found = await gateway.findEscrows(record.jobHash);
    return found.find((e) => e.proofKey === this.providerId && e.payout === this.params.payoutAddress) ?? null;
  }

  private async checkEscrowAndRun(record: JobRecord): Promise<void> {
    const { gateway } = this.params;
    const now = await gateway.now();
    if (now >= record.desired.deadline) {
      await this.finish(record.jobHash, { phase: JobPhase.Failed, error: { code: "ESCROW_DEADLINE_PASSED", message: "no usable escrow before the deadline" } }, "deadline passed before an escrow was seen");
      return;
    }
    let escrow: ObservedEscrow;
    try {
      escrow = checkEscrow(await gateway.findEscrows(record.jobHash), {
        jobHash: record.jobHash,
        price: BigInt(record.desired.price),
        payout: this.params.payoutAddress,
        proofKey: this.providerId,
        now,
        needMs: record.desired.request.limits.timeoutMs + (this.params.completeMarginMs ?? 60_000),
      });
    } catch (error) {
      if (isNtxError(error, "ESCROW_NOT_FOUND")) return;
      if (isNtxError(error)) {
        await this.finish(record.jobHash, { phase: JobPhase.Refused, error: { code: error.code, message: error.message } }, `refused: ${error.message}`);
        return;
      }
      throw error;
    }
    if (this.running.size >= (this.params.maxConcurrentJobs ?? 1)) return;
    const next = await this.params.store.observe(record.jobHash, { phase: JobPhase.Running, escrow: escrow.outRef });
    await this.publishPhase(next, `escrow ${refText(escrow.outRef)} holds ${escrow.ntxInValue} NTX: starting`);
    this.launch(next);
  }

  private launch(record: JobRecord): void {
    const jobHash = record.jobHash;
    this.inflight.add(jobHash);
    const request: RunRequest = { ...record.desired.request, ...(record.observed.escrow ? { escrowRef: refText(record.observed.escrow) } : {}) };
    const work = (async () => {
      try {
        await this.params.store.observe(jobHash, { attempts: record.observed.attempts + 1 });
        const result = await this.params.runner.run(request, {
          onEvent: (event) => void Promise.resolve(this.params.events?.publish(event)).catch(() => undefined),
          onStarted: async (handle) => { await this.params.store.observe(jobHash, { handle }); },
        });
        await this.saveResult(jobHash, result);
      } catch (error) {
        this.params.onError?.(error, jobHash);
        const attempts = this.params.store.get(jobHash)?.observed.attempts ?? 0;
        if (isNtxError(error) && (REFUSAL_CODES.has(error.code) || attempts >= (this.params.maxAttempts ?? 3))) {
          await this.finish(jobHash, { phase: JobPhase.Failed, handle: undefined, error: { code: error.code, message: error.message } }, `failed: ${error.message}`);
        } else {
          await this.params.store.observe(jobHash, { handle: undefined });
        }
      } finally {
        this.inflight.delete(jobHash);
        this.running.delete(jobHash);
      }
    })();
    this.running.set(jobHash, work);
  }

  /** A job left Running by a previous process: collect it if it finished, else run it again. */
  private async recoverRun(record: JobRecord): Promise<void> {
    const handle = record.observed.handle;
    if (handle) {
      this.inflight.add(record.jobHash);
      try {
        const result = await this.params.runner.resume(handle, record.desired.request, { onEvent: (e) => void this.params.events?.publish(e) });
        await this.params.store.observe(record.jobHash, { handle: undefined });
        if (result) {
          await this.saveResult(record.jobHash, result);
          return;
        }
      } finally {
        this.inflight.delete(record.jobHash);
      }
    }
    const now = await this.params.gateway.now();
    if (now + record.desired.request.limits.timeoutMs + (this.params.completeMarginMs ?? 60_000) >= record.desired.deadline) {
      await this.finish(record.jobHash, { phase: JobPhase.Failed, error: { code: "JOB_DEADLINE_TOO_CLOSE", message: "not enough time left to run the job again" } }, "gave up: deadline too close to re-run");
      return;
    }
    if (this.running.size < (this.params.maxConcurrentJobs ?? 1)) this.launch(this.params.store.get(record.jobHash) ?? record);
  }

  private async saveResult(jobHash: string, result: RunResult): Promise<void> {
    const archiveFile = this.params.store.resultFile(jobHash);
    await writeFile(archiveFile, result.outputs.archive, { mode: 0o600 });
    let stored: string | undefined;
    if (this.params.results) {
      stored = await this.params.results.put(jobHash, result.outputs.archive, (sent, total) => this.params.onUploadProgress?.(jobHash, sent, total));
    }
    const next = await this.params.store.observe(jobHash, {
      phase: JobPhase.Ran,
      handle: undefined,
      result: {
        resultHash: result.outputs.resultHash,
        exitCode: result.exitCode,
        oomKilled: result.oomKilled,
        timedOut: result.timedOut,
        logTruncated: result.logTruncated,
        outputTooLarge: result.outputTooLarge,
        imageId: result.imageId,
        archiveFile,
        ...(stored ? { stored } : {}),
      },
    });
    await this.publishPhase(next, `ran: ${describeResult(result)}`, { resultHash: result.outputs.resultHash, exitCode: result.exitCode });
    // Complete right away rather than on the next pass: the deadline is running.
    await this.complete(next).catch((error: unknown) => this.params.onError?.(error, jobHash));
  }

  private async complete(record: JobRecord): Promise<void> {
    const result = record.observed.result;
    if (!result) throw new NtxError("PROVIDER_STATE_INVALID", `job ${record.jobHash} ran but has no result`);
    const escrow = await this.locate(record);
    if (!escrow) {
      await this.finish(record.jobHash, { phase: JobPhase.Settled, settledBy: "escrow spent before completion (refunded or cancelled)" }, "escrow already spent: nothing to complete");
      return;
    }
    if (escrow.state.kind === "completed") {
      // Submitted before a crash: carry on from the Completed output.
      await this.params.store.observe(record.jobHash, { phase: JobPhase.Completed, escrow: escrow.outRef });
      return;
    }
    if (escrow.state.kind !== "locked") {
      await this.finish(record.jobHash, { phase: JobPhase.Failed, error: { code: "ESCROW_DISPUTED", message: `escrow is ${escrow.state.kind}` } }, "escrow disputed");
      return;
    }
    const now = await this.params.gateway.now();
    if (now >= escrow.deadline) {
      await this.finish(record.jobHash, { phase: JobPhase.Failed, error: { code: "ESCROW_DEADLINE_PASSED", message: "the escrow deadline passed before completion" } }, "deadline passed");
      return;
    }
    this.inflight.add(record.jobHash);
    try {
      const signature = await this.signProof({ escrowRef: escrowRef(escrow.outRef), jobHash: record.jobHash, resultHash: result.resultHash });
      const { txHash, completed } = await this.params.gateway.submitComplete({ escrow, resultHash: result.resultHash, signature });
      const next = await this.params.store.observe(record.jobHash, { phase: JobPhase.Completed, escrow: completed, completeTx: txHash });
      await this.publishPhase(next, `completed in ${txHash}`, { resultHash: result.resultHash, txHash });
    } finally {
      this.inflight.delete(record.jobHash);
    }
  }

  /** The Completed escrow when its challenge window is over; settles the job when the escrow is already spent. */
  private async claimable(record: JobRecord): Promise<ObservedEscrow | null> {
    const escrow = await this.locate(record);
    if (!escrow) {
      await this.finish(record.jobHash, { phase: JobPhase.Settled, settledBy: record.observed.claimTx ? "claim" : "escrow spent (accepted by the buyer, or claimed before a restart)" }, "escrow spent: settled");
      return null;
    }
    if (escrow.state.kind !== "completed") return null;
    const now = await this.params.gateway.now();
    return now > escrow.state.completedAt + escrow.challengeWindow ? escrow : null;
  }

  private async finish(jobHash: string, change: Partial<JobRecord["observed"]>, message: string): Promise<void> {
    const next = await this.params.store.observe(jobHash, change);
    await this.publishPhase(next, message, change.claimTx ? { txHash: change.claimTx } : {});
    for (const wake of this.waiters.get(jobHash)?.splice(0) ?? []) wake(next);
  }

  private async publishPhase(record: JobRecord, message: string, extra: { resultHash?: string; exitCode?: number | null; txHash?: string } = {}): Promise<void> {
    try {
      await this.params.events?.publish({ kind: "job", jobHash: record.jobHash, phase: record.observed.phase, at: Date.now(), message, ...extra });
    } catch (error) {
      this.params.onError?.(error, record.jobHash);
    }
  }
}

export function describeResult(result: RunResult): string {
  const parts = [result.exitCode === null ? "killed" : `exit ${result.exitCode}`];
  if (result.timedOut) parts.push("timed out");
  if (result.oomKilled) parts.push("out of memory");
  if (result.logTruncated) parts.push("log cap reached");
  if (result.outputTooLarge) parts.push("outputs over the cap");
  parts.push(`result ${result.outputs.resultHash.slice(0, 16)}…`);
  return parts.join(", ");
}
