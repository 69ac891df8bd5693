import { Wallet } from "ethers";
import { isNtxError, NtxError } from "../../offchain/errors.js";
import { MAX_CLAIM_BATCH } from "../../offchain/tx/claim.js";
import { escrowRef, signCompletionProof, type CompletionProofFields } from "../../offchain/proof.js";
import { ClaimBatches } from "./claim-batches.js";
import { checkEscrow, type EscrowExpectation } from "./escrow-check.js";
import type { ProofKey } from "./keys.js";
import { JobPhase, type BidTerms, type EscrowTerms, type JobRecord, type JobStateStore } from "./state-store.js";
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
  /** This provider's escrow terms (as signed in its offers); the default accepts no arbiter. */
  terms?: EscrowTerms;
  /** Wall clock for the lock window (a market time, not a chain time); tests move it. */
  clock?: () => number;
  onError?: (error: unknown, jobHash?: string) => void;
  /** Progress of result uploads (they can be large). */
  onUploadProgress?: (jobHash: string, sent: number, total: number) => void;
}

export interface AcceptParams {
  request: RunRequest;
  price: bigint;
  deadline: number;
  /** The escrow terms the buyer's bid signed: the datum must say exactly these. */
  bidTerms: BidTerms;
  /** This provider's terms in the matched offer (default: the daemon's). */
  terms?: EscrowTerms;
  matchId?: string;
  matchedAt?: number;
}

/** No arbiter, a day of challenge window, a week of deadline horizon, ten minutes to lock (config.ts's defaults). */
export const DEFAULT_ESCROW_TERMS: EscrowTerms = { arbiters: [], maxChallengeWindowMs: 24 * 3_600_000, maxDeadlineMs: 7 * 24 * 3_600_000, lockWindowMs: 10 * 60_000 };
/** Claim this long after the window's end: the claim's lower validity bound is rounded down to a 1 s slot. */
const CLAIM_SLACK_MS = 1_000;

const OPEN_PHASES: readonly string[] = [JobPhase.AwaitingEscrow, JobPhase.Locked, JobPhase.Running, JobPhase.Ran, JobPhase.Completed];
/**
 * Errors a rerun would only repeat (the job, its image or its outputs are wrong): the job fails at once with its
 * reason, never retried into a loop. Anything else (engine down…) is retried up to maxAttempts.
 */
const FINAL_CODES = new Set([
  "IMAGE_NOT_PINNED",
  "IMAGE_NOT_ALLOWED",
  "IMAGE_NOT_FOUND",
  "IMAGE_DIGEST_MISMATCH",
  "IMAGE_REFERENCE_INVALID",
  "IMAGE_VOLUME_REFUSED",
  "RUN_REQUEST_INVALID",
  "RESULT_ARCHIVE_INVALID",
]);

function isFinal(error: unknown): error is NtxError {
  return isNtxError(error) && FINAL_CODES.has(error.code);
}

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
  private readonly claimTimers = new Map<string, NodeJS.Timeout>();
  private readonly claimBatches: ClaimBatches;
  /** `<jobHash>:<phase>` of phase events sent and not yet acknowledged. */
  private readonly announcing = new Set<string>();

  constructor(private readonly params: ProviderDaemonParams) {
    const wallet = new Wallet(params.proofKey.privateKey);
    this.claimBatches = new ClaimBatches(params.claimBatchSize ?? MAX_CLAIM_BATCH, (error) => params.onError?.(error));
    this.signProof = params.signProof ?? ((fields) => signCompletionProof(wallet, fields));
  }

  private clock(): number {
    return (this.params.clock ?? Date.now)();
  }

  get providerId(): string {
    return this.params.proofKey.providerId;
  }

  /** Every job this provider keeps, or those `wanted` picks (it reads the stored record and must not change it). */
  status(wanted?: (record: JobRecord) => boolean): JobRecord[] {
    return wanted ? this.params.store.select(wanted) : this.params.store.all();
  }

  /** Takes on a matched job (idempotent: accepting a known job changes nothing). */
  async accept(params: AcceptParams): Promise<JobRecord> {
    const jobHash = params.request.jobHash;
    const known = this.params.store.get(jobHash);
    if (known) return known;
    const now = this.clock();
    const record: JobRecord = {
      jobHash,
      desired: {
        request: params.request,
        price: params.price.toString(),
        deadline: params.deadline,
        ...(params.matchId ? { matchId: params.matchId } : {}),
        acceptedAt: now,
        matchedAt: params.matchedAt ?? now,
        terms: params.terms ?? this.params.terms ?? DEFAULT_ESCROW_TERMS,
        bidTerms: params.bidTerms,
      },
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
    for (const t of this.claimTimers.values()) clearTimeout(t);
    this.claimTimers.clear();
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
    this.announcePending();
    for (const record of this.params.store.select((r) => OPEN_PHASES.includes(r.observed.phase) && !this.inflight.has(r.jobHash))) {
      if (this.inflight.has(record.jobHash)) continue;
      try {
        switch (record.observed.phase) {
          case JobPhase.AwaitingEscrow:
          case JobPhase.Locked:
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
    for (const record of this.params.store.select((r) => r.observed.phase === JobPhase.Completed)) {
      if (this.inflight.has(record.jobHash) || this.claimBatches.isSetAside(record.jobHash)) continue;
      try {
        const escrow = await this.claimable(record);
        if (escrow) due.push({ record, escrow });
      } catch (error) {
        this.params.onError?.(error, record.jobHash);
      }
    }
    const claimed: Array<{ txHash: string; jobHashes: string[] }> = [];
    // A failed batch is halved for its escrows on the next pass, down to single escrows (claim-batches.ts).
    for (const batch of this.claimBatches.plan(due, (d) => d.record.jobHash)) {
      const jobHashes = batch.map((d) => d.record.jobHash);
      let txHash: string;
      try {
        ({ txHash } = await this.params.gateway.submitClaim(batch.map((d) => d.escrow)));
      } catch (error) {
        this.params.onError?.(error);
        this.claimBatches.failed(jobHashes, error);
        continue;
      }
      this.claimBatches.succeeded(jobHashes);
      claimed.push({ txHash, jobHashes });
      for (const { record } of batch) {
        // A record not saved now is found spent on the next pass and settled then: never claimed twice.
        await this.finish(record.jobHash, { phase: JobPhase.Settled, claimTx: txHash, settledBy: "claim" }, `claimed in ${txHash}`).catch((error: unknown) => this.params.onError?.(error, record.jobHash));
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

  private expectation(record: JobRecord, now: number, needMs: number): EscrowExpectation {
    return {
      jobHash: record.jobHash,
      price: BigInt(record.desired.price),
      payout: this.params.payoutAddress,
      proofKey: this.providerId,
      now,
      needMs,
      terms: record.desired.terms,
      bid: record.desired.bidTerms,
      matchedAt: record.desired.matchedAt,
    };
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
      escrow = checkEscrow(await gateway.findEscrows(record.jobHash), this.expectation(record, now, record.desired.request.limits.timeoutMs + (this.params.completeMarginMs ?? 60_000)));
    } catch (error) {
      // Not found yet, or the chain could not be read now (a timeout under load): look again on the next pass. A
      // transient read error says nothing about the escrow; releasing on it gave up jobs whose buyers had locked.
      const unreadable = isNtxError(error) && error.retryable;
      if (isNtxError(error, "ESCROW_NOT_FOUND") || unreadable) {
        if (unreadable) this.params.onError?.(error, record.jobHash);
        // A confirmed match holds capacity for free until it is locked: only for the lock window.
        const lockBy = record.desired.acceptedAt + record.desired.terms.lockWindowMs;
        if (record.observed.phase === JobPhase.AwaitingEscrow && this.clock() >= lockBy) {
          const why = unreadable ? `no escrow seen within the lock window of ${record.desired.terms.lockWindowMs} ms (last read failed: ${error.message})` : `no escrow within the lock window of ${record.desired.terms.lockWindowMs} ms`;
          await this.finish(record.jobHash, { phase: JobPhase.Released, error: { code: "LOCK_WINDOW_PASSED", message: why } }, `released: no escrow locked within ${Math.round(record.desired.terms.lockWindowMs / 1000)} s`);
        }
        return;
      }
      if (isNtxError(error)) {
        await this.finish(record.jobHash, { phase: JobPhase.Refused, error: { code: error.code, message: error.message } }, `released: ${error.message}`);
        return;
      }
      throw error;
    }
    if (record.observed.phase === JobPhase.AwaitingEscrow) {
      const locked = await this.params.store.observe(record.jobHash, { phase: JobPhase.Locked, escrow: escrow.outRef });
      await this.publishPhase(locked, `escrow ${refText(escrow.outRef)} holds ${escrow.ntxInValue} NTX`);
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
          archiveFile: this.params.store.resultFile(jobHash),
          onEvent: (event) => void Promise.resolve(this.params.events?.publish(event)).catch(() => undefined),
          onStarted: async (handle) => { await this.params.store.observe(jobHash, { handle }); },
        });
        await this.saveResult(jobHash, result);
      } catch (error) {
        this.params.onError?.(error, jobHash);
        const attempts = this.params.store.get(jobHash)?.observed.attempts ?? 0;
        if (isFinal(error) || (isNtxError(error) && attempts >= (this.params.maxAttempts ?? 3))) {
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
        const result = await this.params.runner.resume(handle, record.desired.request, { archiveFile: this.params.store.resultFile(record.jobHash), onEvent: (e) => void this.params.events?.publish(e) });
        await this.params.store.observe(record.jobHash, { handle: undefined });
        if (result) {
          await this.saveResult(record.jobHash, result);
          return;
        }
      } catch (error) {
        // Collecting again after a restart must not crash-loop: a final error ends the job; any other is counted
        // as an attempt (the runner discarded the container, so the next pass runs it again or gives up).
        this.params.onError?.(error, record.jobHash);
        const attempts = record.observed.attempts + 1;
        if (isFinal(error) || attempts >= (this.params.maxAttempts ?? 3)) {
          const code = isNtxError(error) ? error.code : "RESUME_FAILED";
          const message = error instanceof Error ? error.message : String(error);
          await this.finish(record.jobHash, { phase: JobPhase.Failed, handle: undefined, attempts, error: { code, message } }, `failed: ${message}`);
        } else {
          await this.params.store.observe(record.jobHash, { handle: undefined, attempts });
        }
        return;
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
    const archiveFile = result.outputs.archiveFile;
    let stored: string | undefined;
    if (this.params.results) {
      stored = await this.params.results.put(jobHash, archiveFile, (sent, total) => this.params.onUploadProgress?.(jobHash, sent, total));
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
    // Checked again before signing: the escrow found now may not be the one checked before the run.
    try {
      checkEscrow([escrow], this.expectation(record, now, 0));
    } catch (error) {
      if (!isNtxError(error)) throw error;
      await this.finish(record.jobHash, { phase: JobPhase.Failed, error: { code: error.code, message: error.message } }, `not completing: ${error.message}`);
      return;
    }
    this.inflight.add(record.jobHash);
    try {
      const signature = await this.signProof({ escrowRef: escrowRef(escrow.outRef), jobHash: record.jobHash, resultHash: result.resultHash });
      const { txHash, completed } = await this.params.gateway.submitComplete({ escrow, resultHash: result.resultHash, signature });
      const next = await this.params.store.observe(record.jobHash, { phase: JobPhase.Completed, escrow: completed, completeTx: txHash });
      await this.publishPhase(next, `completed in ${txHash}`, { resultHash: result.resultHash, txHash });
      // The window's end is known once the Completed output is read: the next pass finds it and sets the timer.
      this.wakeForClaim(record.jobHash, 0);
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
    const due = escrow.state.completedAt + escrow.challengeWindow;
    if (now > due) return escrow;
    this.wakeForClaim(record.jobHash, due - now + CLAIM_SLACK_MS);
    return null;
  }

  /**
   * Ticks again when a challenge window ends rather than on the next poll: the claim goes out when it can. The
   * delay is measured on the chain's clock; a timer per job, replaced when the job is seen again.
   */
  private wakeForClaim(jobHash: string, inMs: number): void {
    if (this.timer === undefined) return; // not started: the caller drives ticks
    const old = this.claimTimers.get(jobHash);
    if (old) clearTimeout(old);
    const timer = setTimeout(() => {
      this.claimTimers.delete(jobHash);
      void this.tick().catch((error: unknown) => this.params.onError?.(error, jobHash));
    }, Math.min(inMs, 2 ** 31 - 1));
    timer.unref?.();
    this.claimTimers.set(jobHash, timer);
  }

  private async finish(jobHash: string, change: Partial<JobRecord["observed"]>, message: string): Promise<void> {
    const next = await this.params.store.observe(jobHash, change);
    await this.publishPhase(next, message, change.claimTx ? { txHash: change.claimTx } : {});
    for (const wake of this.waiters.get(jobHash)?.splice(0) ?? []) wake(next);
  }

  /**
   * Job events are at-least-once: a phase stored without its event acknowledged (a crash between the two, NATS
   * away) is published again on each pass, from the record, until the stream acks it. Followers (the API's phase
   * view, the buyer's page, the matcher's reservation release) see the phase however the provider died.
   */
  private announcePending(): void {
    if (!this.params.events) return;
    for (const record of this.params.store.select((r) => r.observed.announced !== r.observed.phase)) {
      const { phase } = record.observed;
      if (this.inflight.has(record.jobHash) || this.announcing.has(`${record.jobHash}:${phase}`)) continue;
      void this.publishPhase(record, record.observed.error?.message ?? `${phase} (published again: its first publish was not acknowledged)`, phaseFacts(record));
    }
  }

  /** Sends the record's phase event; the ack (awaited in the background, not by the job) marks it announced. */
  private async publishPhase(record: JobRecord, message: string, extra: { resultHash?: string; exitCode?: number | null; txHash?: string } = {}): Promise<void> {
    const events = this.params.events;
    if (!events) return;
    const { jobHash } = record;
    const phase = record.observed.phase;
    const key = `${jobHash}:${phase}`;
    this.announcing.add(key);
    try {
      const sent = events.publish({ kind: "job", jobHash, phase, at: Date.now(), message, ...extra });
      void Promise.resolve(sent)
        .then(() => this.params.store.announced(jobHash, phase))
        .catch((error: unknown) => this.params.onError?.(error, jobHash))
        .finally(() => this.announcing.delete(key));
    } catch (error) {
      this.announcing.delete(key);
      this.params.onError?.(error, jobHash);
    }
  }
}

/** What a phase's first event carried, read back from the record. */
function phaseFacts(record: JobRecord): { resultHash?: string; exitCode?: number | null; txHash?: string } {
  const { phase, result, completeTx, claimTx } = record.observed;
  const facts: { resultHash?: string; exitCode?: number | null; txHash?: string } = {};
  if (result && (phase === JobPhase.Ran || phase === JobPhase.Completed)) facts.resultHash = result.resultHash;
  if (result && phase === JobPhase.Ran) facts.exitCode = result.exitCode;
  const txHash = phase === JobPhase.Completed ? completeTx : phase === JobPhase.Settled ? claimTx : undefined;
  if (txHash) facts.txHash = txHash;
  return facts;
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
