import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NtxError } from "../../offchain/errors.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex, type ProofKey } from "../../src/provider/keys.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { blake2b256Hex } from "../../src/crypto/sodium.js";
import { JobStateStore } from "../../src/provider/state-store.js";
import type { RunRequest, ObservedEscrow } from "../../src/provider/types.js";
import { FakeEscrow } from "./fake-escrow.js";

const PAYOUT = "addr_test1vz0provider0payout0address0for0tests0only0000000000000";
const HOUR = 3_600_000;
let dir: string;
let chain: FakeEscrow;
let key: ProofKey;

function request(command = ["echo", "hi"]): RunRequest {
  return {
    jobHash: randomBytes(32).toString("hex"),
    image: "ntx-test/busybox:1",
    command,
    env: {},
    resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
    limits: { timeoutMs: 60_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 },
  };
}

async function daemon(runner = new NoopRunner()): Promise<{ d: ProviderDaemon; store: JobStateStore; runner: NoopRunner }> {
  const store = await JobStateStore.open(dir);
  return { d: new ProviderDaemon({ runner, gateway: chain, store, proofKey: key, payoutAddress: PAYOUT, completeMarginMs: 1000 }), store, runner };
}

function lockFor(req: RunRequest, over: Partial<ObservedEscrow> = {}): ObservedEscrow {
  return chain.lock({ jobHash: req.jobHash, amount: 500n, ntxInValue: 500n, payout: PAYOUT, proofKey: key.providerId, deadline: chain.time + 2 * HOUR, challengeWindow: HOUR, ...over });
}

/** Ticks until `done` holds (runs finish in the background, so a fixed number of passes is not enough). */
async function settleUntil(d: ProviderDaemon, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done() && Date.now() < until) {
    await d.tick();
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function settle(d: ProviderDaemon, rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await d.tick();
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-provider-daemon-"));
  chain = new FakeEscrow();
  key = proofKeyFromHex(randomBytes(32).toString("hex"));
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe("ProviderDaemon", () => {
  it("waits for the escrow, runs, completes with a valid proof, and claims several jobs in one batch", async () => {
    const { d, store, runner } = await daemon();
    const reqs = [request(["a"]), request(["b"]), request(["c"])];
    for (const r of reqs) await d.accept({ request: r, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    await settle(d);
    expect(store.all().map((r) => r.observed.phase)).toEqual(["awaiting-escrow", "awaiting-escrow", "awaiting-escrow"]);
    expect(runner.runs).toHaveLength(0);

    for (const r of reqs) lockFor(r);
    await settleUntil(d, () => store.all().every((r) => r.observed.phase === "completed"));
    expect(store.all().map((r) => r.observed.phase)).toEqual(["completed", "completed", "completed"]);
    expect(chain.completes).toBe(3);
    const rec = store.get(reqs[0]!.jobHash)!;
    const archive = await readFile(rec.observed.result!.archiveFile);
    expect(blake2b256Hex(archive)).toBe(rec.observed.result!.resultHash);

    await settle(d); // window still open: nothing claimed
    expect(chain.claims).toHaveLength(0);
    chain.time += HOUR + 1;
    await settle(d);
    expect(chain.claims).toHaveLength(1);
    expect(chain.claims[0]).toHaveLength(3);
    expect(chain.paid.get(PAYOUT)).toBe(1500n);
    expect(store.all().every((r) => r.observed.phase === "settled" && r.observed.claimTx)).toBe(true);
  });

  it("a chain that cannot be read while it waits for the escrow is read again on the next pass, not a release", async () => {
    const { d, store, runner } = await daemon();
    const req = request();
    await d.accept({ request: req, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    lockFor(req);
    // The escrow is there, but the first reads time out as a loaded chain server's do (a retryable CHAIN_UNAVAILABLE).
    const find = chain.findEscrows.bind(chain);
    let failures = 0;
    chain.findEscrows = async (jobHash) => {
      if (failures < 3) {
        failures++;
        throw new NtxError("CHAIN_UNAVAILABLE", "cannot read UTxOs at the script address", { retryable: true });
      }
      return find(jobHash);
    };
    await settleUntil(d, () => store.get(req.jobHash)?.observed.phase === "completed");
    expect(failures).toBe(3);
    expect(store.get(req.jobHash)?.observed.phase).toBe("completed");
    expect(runner.runs.map((r) => r.jobHash)).toEqual([req.jobHash]);
    expect(chain.completes).toBe(1);
  });

  it("refuses short, foreign and expiring escrows, and gives up at the deadline", async () => {
    const { d, store, runner } = await daemon();
    const short = request();
    const foreign = request();
    const late = request();
    const never = request();
    for (const r of [short, foreign, late, never]) await d.accept({ request: r, price: 500n, deadline: chain.time + HOUR, bidTerms: { challengeWindowMs: HOUR } });
    lockFor(short, { ntxInValue: 499n });
    lockFor(foreign, { proofKey: proofKeyFromHex(randomBytes(32).toString("hex")).providerId });
    lockFor(late, { deadline: chain.time + 30_000 });
    await settle(d);
    expect(store.get(short.jobHash)!.observed).toMatchObject({ phase: "refused", error: { code: "ESCROW_SHORT" } });
    expect(store.get(foreign.jobHash)!.observed).toMatchObject({ phase: "refused", error: { code: "ESCROW_INVALID" } });
    expect(store.get(late.jobHash)!.observed).toMatchObject({ phase: "refused", error: { code: "ESCROW_INVALID" } });
    expect(store.get(never.jobHash)!.observed.phase).toBe("awaiting-escrow");
    chain.time += HOUR;
    await settle(d);
    expect(store.get(never.jobHash)!.observed).toMatchObject({ phase: "failed", error: { code: "ESCROW_DEADLINE_PASSED" } });
    expect(runner.runs).toHaveLength(0);
  });

  it("never completes or claims twice across crashes between submit and save", async () => {
    const first = await daemon();
    const req = request();
    await first.d.accept({ request: req, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    lockFor(req);
    chain.crashAfter = "complete";
    await first.d.tick();
    await first.d.stop({ waitForRuns: true });
    expect(chain.completes).toBe(1);
    expect(first.store.get(req.jobHash)!.observed.phase).toBe("ran");

    const second = await daemon();
    await settleUntil(second.d, () => second.store.get(req.jobHash)!.observed.phase === "completed");
    expect(second.store.get(req.jobHash)!.observed.phase).toBe("completed");
    expect(chain.completes).toBe(1);

    chain.time += HOUR + 1;
    chain.crashAfter = "claim";
    await settle(second.d, 1);
    expect(chain.paid.get(PAYOUT)).toBe(500n);
    const third = await daemon();
    await settle(third.d);
    expect(third.store.get(req.jobHash)!.observed.phase).toBe("settled");
    expect(chain.claims).toHaveLength(1);
    expect(chain.paid.get(PAYOUT)).toBe(500n);
  });

  it("settles without claiming when the buyer already paid out the escrow", async () => {
    const { d, store } = await daemon();
    const req = request();
    await d.accept({ request: req, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    lockFor(req);
    await settleUntil(d, () => store.get(req.jobHash)!.observed.phase === "completed");
    const rec = store.get(req.jobHash)!;
    expect(rec.observed.phase).toBe("completed");
    chain.spend(rec.observed.escrow!); // Accept by the buyer
    await settle(d);
    expect(store.get(req.jobHash)!.observed).toMatchObject({ phase: "settled" });
    expect(store.get(req.jobHash)!.observed.claimTx).toBeUndefined();
    expect(chain.claims).toHaveLength(0);
  });

  it("re-runs a job whose run was lost with the previous process", async () => {
    const first = await daemon();
    const req = request();
    await first.d.accept({ request: req, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    await first.store.observe(req.jobHash, { phase: "running", escrow: lockFor(req).outRef, handle: { jobHash: req.jobHash, containerId: "gone", volumeName: "", startedAt: 1 } });
    const second = await daemon();
    await settleUntil(second.d, () => second.store.get(req.jobHash)!.observed.phase === "completed");
    expect(second.runner.runs).toHaveLength(1);
    expect(second.store.get(req.jobHash)!.observed.phase).toBe("completed");
  });

  it("claims when the challenge window ends, not at the next poll", async () => {
    // The chain clock follows the wall clock here; the daemon polls once a minute, the window is 1.5 s.
    const follow = setInterval(() => { chain.time = Date.now(); }, 5);
    chain.time = Date.now();
    const { d, store } = await daemon();
    try {
      const req = request();
      await d.accept({ request: req, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: 1500 } });
      lockFor(req, { challengeWindow: 1500 });
      d.start(60_000);
      const until = Date.now() + 30_000;
      while (store.get(req.jobHash)?.observed.phase !== "settled" && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(store.get(req.jobHash)?.observed.phase).toBe("settled");
      expect(chain.claims).toEqual([[req.jobHash]]);
    } finally {
      await d.stop({ waitForRuns: true });
      clearInterval(follow);
    }
  });

  it("refuses escrows outside its terms or the bid's, and re-checks before Complete", async () => {
    const arbiter = "ab".repeat(28);
    const { d, store, runner } = await daemon();
    const terms = { arbiters: [arbiter], maxChallengeWindowMs: HOUR, maxDeadlineMs: 3 * HOUR, lockWindowMs: 600_000 };
    const cases = {
      strangerArbiter: { bid: { challengeWindowMs: HOUR, arbiter }, lock: { arbiter: "cd".repeat(28) } },
      noArbiterInBid: { bid: { challengeWindowMs: HOUR }, lock: { arbiter } },
      windowOverMax: { bid: { challengeWindowMs: 2 * HOUR }, lock: { challengeWindow: 2 * HOUR } },
      shortLovelace: { bid: { challengeWindowMs: HOUR }, lock: { lovelace: 1_000_000n, minLovelace: 1_200_000n } },
      farDeadline: { bid: { challengeWindowMs: HOUR }, lock: { deadline: Date.now() + 4 * HOUR } },
    };
    const reqs: Record<string, RunRequest> = {};
    for (const [name, c] of Object.entries(cases)) {
      const req = request();
      reqs[name] = req;
      const deadline = "deadline" in c.lock ? (c.lock.deadline as number) : chain.time + 2 * HOUR;
      await d.accept({ request: req, price: 500n, deadline, bidTerms: c.bid, terms, matchedAt: "deadline" in c.lock ? Date.now() : chain.time });
      lockFor(req, { ...c.lock, deadline });
    }
    await settle(d);
    for (const name of Object.keys(cases)) expect(store.get(reqs[name]!.jobHash)!.observed.phase, name).toBe("refused");
    expect(runner.runs).toHaveLength(0);
  });

  it("a result error that a rerun would repeat fails the job once, in a run or in a resume after a restart", async () => {
    const { NtxError } = await import("../../offchain/errors.js");
    const invalid = () => new NtxError("RESULT_ARCHIVE_INVALID", "result archive: entries out of order");
    let runs = 0;
    let resumes = 0;
    const runner = new NoopRunner();
    const broken = Object.assign(Object.create(runner) as NoopRunner, {
      run: async () => { runs++; throw invalid(); },
      resume: async () => { resumes++; throw invalid(); },
    });
    const { d, store } = await daemon(broken);
    const ran = request();
    await d.accept({ request: ran, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    lockFor(ran);
    const resumed = request();
    await d.accept({ request: resumed, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
    await store.observe(resumed.jobHash, { phase: "running", escrow: lockFor(resumed).outRef, handle: { jobHash: resumed.jobHash, containerId: "c", execId: "e", volumeName: "v", startedAt: 1 } });
    await settleUntil(d, () => ["failed"].includes(store.get(ran.jobHash)!.observed.phase) && store.get(resumed.jobHash)!.observed.phase === "failed");
    await settle(d, 6);
    expect(store.get(ran.jobHash)!.observed).toMatchObject({ phase: "failed", error: { code: "RESULT_ARCHIVE_INVALID" } });
    expect(store.get(resumed.jobHash)!.observed).toMatchObject({ phase: "failed", error: { code: "RESULT_ARCHIVE_INVALID" } });
    expect(runs).toBe(1);
    expect(resumes).toBe(1);
    expect(chain.completes).toBe(0);
  });
});
