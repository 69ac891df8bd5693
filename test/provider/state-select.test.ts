import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobPhase, JobStateStore, type JobRecord } from "../../src/provider/state-store.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-state-select-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(phase: JobRecord["observed"]["phase"]): JobRecord {
  const jobHash = randomBytes(32).toString("hex");
  return {
    jobHash,
    desired: {
      request: { jobHash, image: "ntx-test/busybox:1", command: ["true"], env: {}, resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 }, limits: { timeoutMs: 10_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 } },
      price: "500",
      deadline: 2_000_000_000_000,
      acceptedAt: 1,
      matchedAt: 1,
      terms: { arbiters: [], maxChallengeWindowMs: 60_000, maxDeadlineMs: 3_600_000, lockWindowMs: 120_000 },
      bidTerms: { challengeWindowMs: 2_000 },
    },
    observed: { phase, attempts: 0, updatedAt: 1 },
  };
}

describe("provider state: the records a pass looks at", () => {
  it("select gives copies of the records picked, agreeing with a filter of all(), and a caller changing them changes nothing", async () => {
    const store = await JobStateStore.open(dir);
    const phases = [JobPhase.Settled, JobPhase.Completed, JobPhase.AwaitingEscrow, JobPhase.Settled, JobPhase.Completed, JobPhase.Failed];
    for (const p of phases) await store.put(record(p));
    const completed = store.select((r) => r.observed.phase === JobPhase.Completed);
    expect(completed).toEqual(store.all().filter((r) => r.observed.phase === JobPhase.Completed));
    expect(completed).toHaveLength(2);
    completed[0]!.observed.phase = JobPhase.Settled;
    completed[0]!.desired.request.command.push("rm -rf /");
    expect(store.get(completed[0]!.jobHash)!.observed.phase).toBe(JobPhase.Completed);
    expect(store.get(completed[0]!.jobHash)!.desired.request.command).toEqual(["true"]);
    expect(store.select(() => false)).toEqual([]);
    // What was written is what a fresh open reads back.
    expect((await JobStateStore.open(dir)).select((r) => r.observed.phase === JobPhase.Completed).map((r) => r.jobHash).sort()).toEqual(completed.map((r) => r.jobHash).sort());
  });
});
