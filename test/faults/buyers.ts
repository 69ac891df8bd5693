/**
 * The buyers of the fault and load suites, as a careful client would be: bids go through the API (retried while it
 * is down: a retried bid is the same signed bid, so it cannot count twice), confirmed matches are locked on-chain
 * in batches by the buyer's own key, a lock whose fate is unknown is never re-sent before its validity has run
 * out and the chain has been read, and an escrow still Locked after its deadline is refunded.
 */
import { randomBytes } from "node:crypto";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { buildLockTx, buildRefundTx, loadDeployment, readEscrowUtxos, submitTx, type EscrowDeployment } from "../../offchain/index.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey, jobHash as specHash, signBid, type UnsignedBid } from "../../src/market/index.js";
import type { RawReader } from "./raw.js";
import type { FaultStack } from "./stack.js";
import { JOB_IMAGE } from "./stack.js";
import { sleep } from "./procs.js";

export interface BuyerJob {
  jobHash: string;
  deadline: number;
  /** When the buyer first tried to post it, and when the API took it (2xx). */
  postedAt: number;
  acceptedAt?: number;
  providerId?: string;
  price?: bigint;
  lock: "none" | "unknown" | "locked";
  lockTx?: string;
  lockedAt?: number;
  /** A lock whose submission failed mid-way: not re-sent before this time (its validity has run out by then). */
  unknownUntil?: number;
  refundTx?: string;
  /** The result hash of its Completed escrow, when the buyer saw it on-chain. */
  completedResultHash?: string;
}

export interface BuyerOptions {
  /** Escrow deadline after the bid is posted. */
  deadlineMs: number;
  jobMaxDurationMs: number;
  /** Command of the job (Docker providers run it; no-op providers ignore it). */
  command: (n: number) => string[];
  /** Lock transactions are built for at most this many jobs. */
  lockBatch: number;
  apiRetryMs?: number;
  /** Post bids straight to NATS with this (the load suite) instead of through the API. */
  publish?: (jobHash: string, body: string) => Promise<void>;
  /** How long a bid stays open for matching (default: until 30 s before its deadline). */
  expiresInMs?: number;
}

const LOCK_VALID_MS = 30_000;

export class Buyers {
  readonly jobs = new Map<string, BuyerJob>();
  readonly paymentKey = newPrivateKey();
  readonly address = addressOfPrivateKey(this.paymentKey, "devnet");
  readonly errors: string[] = [];
  private readonly seed = new Uint8Array(randomBytes(32));
  private readonly bidKey = Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(this.seed))).toString("hex");
  private count = 0;
  private deployment: EscrowDeployment | undefined;
  private payoutOf: Map<string, string>;

  constructor(
    private readonly stack: FaultStack,
    private readonly raw: RawReader,
    private readonly options: BuyerOptions,
  ) {
    this.payoutOf = new Map(stack.providers.map((p) => [p.providerId, p.payoutAddress]));
  }

  async fund(lovelace: bigint, ntx: bigint): Promise<void> {
    await this.stack.devnet.fund(this.address, lovelace, ntx);
  }

  /**
   * One bid, signed by the buyer's key, posted to the API until the API takes it (or `giveUpMs` passes). With
   * `regions`, only providers offering in one of them can take it.
   */
  async postBid(giveUpMs = 120_000, regions?: string[]): Promise<BuyerJob> {
    const n = ++this.count;
    const now = Date.now();
    const bid: UnsignedBid = {
      v: 1,
      type: "bid",
      spec: { image: JOB_IMAGE, command: this.options.command(n), env: { N: `${n}-${randomBytes(4).toString("hex")}` }, resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 0 }, maxDurationMs: this.options.jobMaxDurationMs, outputs: ["/out"], network: "none" },
      maxPrice: "100000000",
      deadline: now + this.options.deadlineMs,
      // Matched by then or never: a later match leaves too little time to lock and run.
      expiresAt: now + (this.options.expiresInMs ?? this.options.deadlineMs - 30_000),
      buyer: { key: this.bidKey },
      terms: { challengeWindowMs: 2_000 },
      nonce: String(BigInt(now) * 1000n + BigInt(n % 1000)),
      ...(regions ? { regions } : {}),
    };
    const jobHash = specHash(bid.spec);
    const job: BuyerJob = { jobHash, deadline: bid.deadline, postedAt: now, lock: "none" };
    this.jobs.set(jobHash, job);
    const body = JSON.stringify(signBid(this.seed, bid));
    if (this.options.publish) {
      try {
        await this.options.publish(jobHash, body);
        job.acceptedAt = Date.now();
      } catch (error) {
        this.errors.push(`bid ${jobHash.slice(0, 12)}: ${error instanceof Error ? error.message : String(error)}`);
      }
      return job;
    }
    const until = now + giveUpMs;
    for (;;) {
      const answer = await fetch(`${this.stack.api.url}/api/bids`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(15_000) }).then(
        async (r) => ({ status: r.status, text: await r.text() }),
        () => ({ status: 0, text: "" }),
      );
      const status = answer.status;
      if (status === 200 || status === 202) {
        job.acceptedAt = Date.now();
        return job;
      }
      // Down (no answer), overloaded (5xx) or rate-limited (429): try again. Any other answer is final.
      if (status !== 0 && status !== 429 && status < 500) {
        this.errors.push(`bid ${jobHash.slice(0, 12)}: API answered ${status} ${answer.text.slice(0, 300)}`);
        return job;
      }
      if (Date.now() > until) {
        this.errors.push(`bid ${jobHash.slice(0, 12)}: not taken by the API within ${giveUpMs} ms (last status ${status})`);
        return job;
      }
      await sleep(this.options.apiRetryMs ?? 500);
    }
  }

  private async lucid() {
    const lucid = await this.stack.chain.lucid({ privateKey: this.paymentKey });
    this.deployment ??= await loadDeployment(lucid, this.stack.script, this.stack.referenceScript);
    return lucid;
  }

  /** Escrows at the script address now, by jobHash. */
  async escrows() {
    const scan = await readEscrowUtxos(await this.stack.chain.lucid(), this.stack.script);
    const by = new Map<string, typeof scan.escrows>();
    for (const e of scan.escrows) by.set(e.datum.jobHash, [...(by.get(e.datum.jobHash) ?? []), e]);
    return by;
  }

  /** Locks every confirmed match not locked yet (one batch); returns how many it locked. */
  async lockRound(): Promise<number> {
    const waiting = [...this.jobs.values()].filter((j) => j.acceptedAt && j.lock !== "locked" && (j.lock === "none" || Date.now() > j.unknownUntil!));
    if (waiting.length === 0) {
      this.noteCompleted(await this.escrows());
      return 0;
    }
    const records = await this.raw.jobRecords(waiting.map((j) => j.jobHash));
    const onChain = await this.escrows();
    this.noteCompleted(onChain);
    const ready: BuyerJob[] = [];
    for (const j of waiting) {
      if (onChain.has(j.jobHash)) {
        // A lock whose answer was lost did land: never lock the job again.
        j.lock = "locked";
        j.lockedAt ??= Date.now();
        continue;
      }
      if (j.lock === "unknown") j.lock = "none";
      const r = records.get(j.jobHash);
      if (!r || r.state !== "confirmed" || typeof r.providerId !== "string" || typeof r.price !== "string") continue;
      if (j.deadline - Date.now() < this.options.jobMaxDurationMs + 20_000) continue; // too late to be worth running
      j.providerId = r.providerId;
      j.price = BigInt(r.price);
      ready.push(j);
    }
    const batch = ready.slice(0, this.options.lockBatch);
    if (batch.length === 0) return 0;
    try {
      const lucid = await this.lucid();
      const tx = await buildLockTx(lucid, {
        script: this.stack.script,
        validForMs: LOCK_VALID_MS,
        jobs: batch.map((j) => ({ payout: this.payoutOf.get(j.providerId!)!, proofKey: j.providerId!, jobHash: j.jobHash, amount: j.price!, deadline: j.deadline, challengeWindow: 2_000 })),
      });
      for (const j of batch) {
        j.lock = "unknown";
        j.unknownUntil = Date.now() + LOCK_VALID_MS + 15_000;
      }
      const txHash = await submitTx(lucid, tx);
      const at = Date.now();
      for (const j of batch) Object.assign(j, { lock: "locked", lockTx: txHash, lockedAt: at });
      return batch.length;
    } catch (error) {
      this.errors.push(`lock of ${batch.length}: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`);
      return 0;
    }
  }

  private noteCompleted(onChain: Awaited<ReturnType<Buyers["escrows"]>>): void {
    for (const [h, list] of onChain) {
      const job = this.jobs.get(h);
      for (const e of list) if (job && e.datum.state.kind === "completed") job.completedResultHash = e.datum.state.resultHash;
    }
  }

  /** Refunds escrows still Locked after their deadline; returns how many it refunded. */
  async refundRound(): Promise<number> {
    const now = Date.now();
    const due = [...this.jobs.values()].filter((j) => j.lock === "locked" && !j.refundTx && j.deadline + 5_000 < now);
    if (due.length === 0) return 0;
    const onChain = await this.escrows();
    let done = 0;
    for (const j of due) {
      const e = onChain.get(j.jobHash)?.find((x) => x.datum.state.kind === "locked");
      if (!e) continue;
      try {
        const lucid = await this.lucid();
        j.refundTx = await submitTx(lucid, await buildRefundTx(lucid, { deployment: this.deployment!, escrow: e }));
        done++;
      } catch (error) {
        this.errors.push(`refund ${j.jobHash.slice(0, 12)}: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`);
      }
    }
    return done;
  }

  /** Locks (and later refunds) in the background until stopped. */
  runLoops(everyMs = 1_500): { stop(): Promise<void> } {
    let on = true;
    const loop = (async () => {
      while (on) {
        await this.lockRound().catch((e: unknown) => this.errors.push(`lock round: ${String(e).slice(0, 200)}`));
        await this.refundRound().catch((e: unknown) => this.errors.push(`refund round: ${String(e).slice(0, 200)}`));
        await sleep(everyMs);
      }
    })();
    return {
      async stop() {
        on = false;
        await loop;
      },
    };
  }

  async ntxBalance(address = this.address): Promise<bigint> {
    const utxos = await this.stack.chain.utxosAt(address);
    return utxos.reduce((sum, u) => sum + (u.assets[this.stack.ntxUnit] ?? 0n), 0n);
  }
}
