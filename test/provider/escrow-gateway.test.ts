import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLucidEscrowGateway } from "../../src/provider/chain/escrow-gateway.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { JobStateStore } from "../../src/provider/state-store.js";
import type { RunRequest } from "../../src/provider/types.js";
import { createEscrowWorld, type EscrowWorld } from "../helpers/emulator.js";

// The daemon against the real escrow validator (Lucid Emulator, local UPLC evaluation on) through the real
// offchain builders: the proof it signs must pass the script, and claims must be batched into one transaction.

let world: EscrowWorld;
let dir: string;

function request(jobHash: string): RunRequest {
  return {
    jobHash,
    image: "ntx-test/busybox:1",
    command: ["echo", jobHash.slice(0, 8)],
    env: {},
    resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
    limits: { timeoutMs: 60_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 },
  };
}

beforeAll(async () => {
  world = await createEscrowWorld();
  dir = await mkdtemp(join(tmpdir(), "ntx-provider-gw-"));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe("provider daemon on the escrow validator", () => {
  it("completes with a proof the script accepts, claims two escrows in one tx, and refuses a short one", async () => {
    const store = await JobStateStore.open(dir);
    const runner = new NoopRunner();
    const gateway = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, now: () => world.emulator.now() });
    const errors: unknown[] = [];
    const daemon = new ProviderDaemon({
      runner,
      gateway,
      store,
      proofKey: proofKeyFromHex(world.proofWallet.privateKey),
      payoutAddress: world.parties.provider.address,
      completeMarginMs: 1000,
      onError: (e) => errors.push(e),
    });
    const jobs = [world.job(), world.job(), world.job()];
    // The emulator world locks with its arbiter and a 10 min window: the bid asked for them, the offer accepts them.
    const bidTerms = { challengeWindowMs: jobs[0]!.challengeWindow, arbiter: world.parties.arbiter.keyHash };
    const terms = { arbiters: [world.parties.arbiter.keyHash], maxChallengeWindowMs: 3_600_000, maxDeadlineMs: 2 * 3_600_000, lockWindowMs: 600_000 };
    const price = jobs[0]!.amount;
    for (const j of jobs.slice(0, 2)) await daemon.accept({ request: request(j.jobHash), price, deadline: j.deadline, bidTerms, terms });
    await daemon.accept({ request: request(jobs[2]!.jobHash), price: price + 1n, deadline: jobs[2]!.deadline, bidTerms, terms });
    await world.lock(jobs);
    world.as("provider");
    const before = await world.balance("provider", world.ntxUnit);

    const phases = () => jobs.map((j) => store.get(j.jobHash)!.observed.phase);
    // Runs finish in the background: tick until the phases reach what is expected (or time out and compare).
    const ticksUntil = async (want: string[]) => {
      const until = Date.now() + 60_000;
      while (JSON.stringify(phases()) !== JSON.stringify(want) && Date.now() < until) {
        await daemon.tick();
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await ticksUntil(["completed", "completed", "refused"]);
    expect(errors).toEqual([]);
    expect(phases()).toEqual(["completed", "completed", "refused"]);
    expect(store.get(jobs[2]!.jobHash)!.observed.error?.code).toBe("ESCROW_SHORT");
    const completed = await gateway.getEscrow(store.get(jobs[0]!.jobHash)!.observed.escrow!);
    expect(completed?.state).toMatchObject({ kind: "completed", resultHash: runner.runs[0]!.outputs.resultHash });

    // completedAt is the Complete tx's validity upper bound, so the window ends after completedAt + window.
    // Runs update the state before their last bookkeeping ends: let them finish so both are claimable in one pass.
    await daemon.stop({ waitForRuns: true });
    let due = 0;
    for (const j of jobs.slice(0, 2)) {
      const e = await gateway.getEscrow(store.get(j.jobHash)!.observed.escrow!);
      if (e?.state.kind !== "completed") throw new Error("not completed");
      due = Math.max(due, e.state.completedAt + e.challengeWindow);
    }
    await daemon.tick();
    expect(phases()).toEqual(["completed", "completed", "refused"]);
    world.emulator.awaitSlot(Math.ceil((due - world.emulator.now()) / 1000) + 5);
    await ticksUntil(["settled", "settled", "refused"]);
    expect(errors).toEqual([]);
    expect(phases()).toEqual(["settled", "settled", "refused"]);
    const claimTxs = new Set(jobs.slice(0, 2).map((j) => store.get(j.jobHash)!.observed.claimTx));
    expect(claimTxs.size).toBe(1);
    expect((await world.balance("provider", world.ntxUnit)) - before).toBe(2n * price);
  });
});
