/**
 * npm run bench:provider — two figures, as JSON on stdout, with the machine noted:
 *  1. escrow-seen → container-running latency of the provider, as a ratio to a plain `docker run -d` of the same
 *     image (time until the CLI returns, i.e. the container is running). Both are medians over interleaved rounds,
 *     so the noise of a shared machine hits both alike.
 *  2. log lines per second streamed from a container to NATS (received by a subscriber).
 * Needs dockerd (scripts/setup.sh) and nats-server on PATH.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connectNats } from "../../src/nats/connection.js";
import { jobLogsSubject } from "../../src/nats/subjects.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { DockerRunner } from "../../src/provider/docker/index.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { NatsEventSink, type LogBatch } from "../../src/provider/nats/event-sink.js";
import { JobStateStore } from "../../src/provider/state-store.js";
import type { EscrowGateway, ObservedEscrow, RunRequest } from "../../src/provider/types.js";
import { dockerTestRun, ensureDocker, TEST_IMAGE } from "../../test/helpers/docker.js";
import { startNatsServer } from "../../test/helpers/nats.js";

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const LOG_LINES = Number(process.env.BENCH_LOG_LINES ?? 200_000);
const MiB = 1024 * 1024;
const PAYOUT = "addr_test1vbench0provider0payout0address0000000000000000000000";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function request(command: string[]): RunRequest {
  return {
    jobHash: randomBytes(32).toString("hex"),
    image: TEST_IMAGE,
    command,
    env: {},
    resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
    limits: { timeoutMs: 60_000, workDirBytes: 8 * MiB, outputBytes: 8 * MiB, logBytes: 256 * MiB },
  };
}

/** An escrow that is already on-chain: the span measured starts when the daemon has seen and checked it. */
function benchGateway(key: string, onSeen: (jobHash: string) => void): { gateway: EscrowGateway; lock(jobHash: string): void } {
  const escrows = new Map<string, ObservedEscrow>();
  const gateway: EscrowGateway = {
    async findEscrows(jobHash) {
      const e = escrows.get(jobHash);
      if (e) onSeen(jobHash);
      return e ? [e] : [];
    },
    async getEscrow(ref) { return [...escrows.values()].find((e) => e.outRef.txHash === ref.txHash) ?? null; },
    async now() { return Date.now(); },
    async submitComplete({ escrow }) { return { txHash: escrow.outRef.txHash, completed: escrow.outRef }; },
    async submitClaim() { return { txHash: "0".repeat(64) }; },
  };
  return {
    gateway,
    lock(jobHash) {
      escrows.set(jobHash, { outRef: { txHash: randomBytes(32).toString("hex"), outputIndex: 0 }, ntxInValue: 10n, jobHash, amount: 10n, payout: PAYOUT, proofKey: key, deadline: Date.now() + 3_600_000, challengeWindow: 1, arbiter: null, lovelace: 3_000_000n, minLovelace: 2_000_000n, state: { kind: "locked" } });
    },
  };
}

/** The same flags the provider uses, for a second, stricter baseline (no network setup to pay for). */
const HARDENED = ["--network", "none", "--read-only", "--tmpfs", "/work:size=8m,uid=65534,gid=65534", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534", "--pids-limit", "64", "--memory", "64m", "--memory-swap", "64m", "--cpus", "1"];

async function plainDockerRun(labels: Record<string, string>, flags: string[] = []): Promise<number> {
  const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`)[0]!;
  const t0 = performance.now();
  const { stdout } = await run("docker", ["run", "-d", "--label", label, ...flags, TEST_IMAGE, "sleep", "30"]);
  const ms = performance.now() - t0;
  await run("docker", ["rm", "-f", stdout.trim()]);
  return ms;
}

async function main(): Promise<void> {
  await ensureDocker();
  const testRun = dockerTestRun();
  const dir = await mkdtemp(join(os.tmpdir(), "ntx-bench-provider-"));
  const nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url });
  try {
    const key = proofKeyFromHex(randomBytes(32).toString("hex"));
    const seenAt = new Map<string, number>();
    const runningAt = new Map<string, number>();
    const { gateway, lock } = benchGateway(key.providerId, (h) => { if (!seenAt.has(h)) seenAt.set(h, performance.now()); });
    const sink = new NatsEventSink({ nc });
    const runner = new DockerRunner({ allowImages: [TEST_IMAGE], labels: testRun.labels });
    const store = await JobStateStore.open(dir);
    const daemon = new ProviderDaemon({
      runner,
      gateway,
      store,
      proofKey: key,
      payoutAddress: PAYOUT,
      completeMarginMs: 1000,
      events: { publish: (e) => { if (e.kind === "state" && e.state === "running" && !runningAt.has(e.jobHash)) runningAt.set(e.jobHash, performance.now()); sink.publish(e); } },
    });

    // Warm both paths (image cache, first connections) before measuring.
    await plainDockerRun(testRun.labels);
    await runner.run(request(["true"]));

    const provider: number[] = [];
    const plain: number[] = [];
    const hardened: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await plainDockerRun(testRun.labels));
      hardened.push(await plainDockerRun(testRun.labels, HARDENED));
      const req = request(["sleep", "1"]);
      await daemon.accept({ request: req, price: 10n, deadline: Date.now() + 3_600_000, bidTerms: { challengeWindowMs: 1 } });
      lock(req.jobHash);
      await daemon.tick();
      while (!runningAt.has(req.jobHash)) await new Promise((r) => setTimeout(r, 2));
      provider.push(runningAt.get(req.jobHash)! - seenAt.get(req.jobHash)!);
      // Let the run finish and the (instant) escrow settle before the next round, so rounds don't overlap.
      const until = Date.now() + 30_000;
      while (!["settled", "failed", "refused"].includes(store.get(req.jobHash)?.observed.phase ?? "") && Date.now() < until) {
        await daemon.tick();
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    // Log throughput: a container printing LOG_LINES lines, counted as they arrive at a NATS subscriber.
    const logReq = request(["seq", "1", String(LOG_LINES)]);
    let received = 0;
    let lastAt = 0;
    const decoder = new TextDecoder();
    const sub = nc.subscribe(jobLogsSubject(logReq.jobHash), {
      callback: (_e, m) => { received += (JSON.parse(decoder.decode(m.data)) as LogBatch).lines.length; lastAt = performance.now(); },
    });
    await nc.flush();
    let startedAt = 0;
    const logSink = new NatsEventSink({ nc });
    await runner.run(logReq, { onEvent: (e) => { if (e.kind === "state" && e.state === "running") startedAt = performance.now(); logSink.publish(e); } });
    await logSink.drain();
    const deadline = Date.now() + 10_000;
    while (received < LOG_LINES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    sub.unsubscribe();

    const { stdout: dockerVersion } = await run("docker", ["version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"]);
    const out = {
      bench: "provider",
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: os.release(),
        node: process.version,
        docker: dockerVersion.trim(),
        note: "shared by several engineers' test runs at once: absolute times are noisy, ratios less so",
      },
      escrowSeenToRunning: {
        rounds: ROUNDS,
        providerMedianMs: Math.round(median(provider) * 10) / 10,
        plainDockerRunMedianMs: Math.round(median(plain) * 10) / 10,
        ratio: Math.round((median(provider) / median(plain)) * 100) / 100,
        target: "<= 1.3",
        hardenedDockerRunMedianMs: Math.round(median(hardened) * 10) / 10,
        ratioToHardenedDockerRun: Math.round((median(provider) / median(hardened)) * 100) / 100,
        providerMs: provider.map((x) => Math.round(x)),
        plainMs: plain.map((x) => Math.round(x)),
        hardenedMs: hardened.map((x) => Math.round(x)),
        what: "provider: daemon has seen and checked the escrow → job process running in the hardened container (volume + create + start + exec); plain: `docker run -d IMAGE sleep 30` until it returns (CLI process included); hardened: the same with the provider's sandbox flags",
      },
      logs: {
        lines: LOG_LINES,
        received,
        natsMessages: logSink.published.logMessages,
        linesPerSecond: Math.round(received / ((lastAt - startedAt) / 1000)),
        what: "lines printed by `seq` in the container, demuxed, split, batched and published; counted at a NATS subscriber",
      },
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await nc.close();
    await nats.stop();
    await testRun.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
