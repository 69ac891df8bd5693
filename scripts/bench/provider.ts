/**
 * npm run bench:provider — two figures, as JSON on stdout, with the machine noted:
 *  1. escrow-seen → container-running latency of the provider, as a ratio to a plain `docker run -d` of the same
 *     image (time until the CLI returns, i.e. the container is running). Both are medians over interleaved rounds,
 *     so the noise of a shared machine hits both alike.
 *  2. log lines per second streamed from a container to NATS (received by a subscriber).
 *  3. collecting a large output (BENCH_COLLECT_MIB, default 256 MiB): the provider process's RSS growth and its
 *     longest event-loop stall while the runner streams the container's tar into the canonical archive (floor:
 *     stall <= 100 ms), and the collection time beside a bare `docker cp CONTAINER:/out - > /dev/null` of the same
 *     amount from the same kind of tmpfs volume, measured in the same run.
 * Needs dockerd (scripts/setup.sh) and nats-server on PATH.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { promisify } from "node:util";
import { connectNats } from "../../src/nats/connection.js";
import { ensureMarketInfrastructure } from "../../src/nats/setup.js";
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
const COLLECT_MIB = Number(process.env.BENCH_COLLECT_MIB ?? 256);
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
    async submitComplete({ escrow, resultHash }) {
      // The escrow moves to Completed as on the chain, so the daemon claims it once its (1 ms) window is over.
      escrows.set(escrow.jobHash, { ...escrow, state: { kind: "completed", resultHash, completedAt: Date.now() } });
      return { txHash: escrow.outRef.txHash, completed: escrow.outRef };
    },
    async submitClaim(claimed) {
      for (const e of claimed) escrows.delete(e.jobHash);
      return { txHash: "0".repeat(64) };
    },
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

/** The bare baseline: the same bytes in the same kind of tmpfs volume, read out by `docker cp` into /dev/null. */
async function bareDockerCp(labels: Record<string, string>, mib: number, runner: DockerRunner): Promise<{ cpMs: number; nodeDrainMs: number }> {
  const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`)[0]!;
  const volume = `ntx-bench-provider-cp-${randomBytes(4).toString("hex")}`;
  await run("docker", ["volume", "create", "--label", label, "--driver", "local", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", `o=size=${(mib + 16) * MiB}`, volume]);
  const { stdout } = await run("docker", ["run", "-d", "--label", label, "-v", `${volume}:/out`, TEST_IMAGE, "sh", "-c", `dd if=/dev/urandom of=/out/big bs=1M count=${mib} 2>/dev/null && touch /out/.done; sleep 600`]);
  const id = stdout.trim();
  try {
    for (;;) {
      const done = await run("docker", ["exec", id, "test", "-e", "/out/.done"]).then(() => true, () => false);
      if (done) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const t0 = performance.now();
    await run("sh", ["-c", `docker cp ${id}:/out - > /dev/null`]);
    const cpMs = performance.now() - t0;
    // The same archive read through the runner's own engine connection (dockerode) and dropped: what Node's HTTP
    // stream alone costs, before any parsing, hashing or writing.
    const t1 = performance.now();
    for await (const chunk of (await runner.docker.getContainer(id).getArchive({ path: "/out" })) as AsyncIterable<Buffer>) void chunk;
    return { cpMs, nodeDrainMs: performance.now() - t1 };
  } finally {
    await run("docker", ["rm", "-f", "-v", id]);
    await run("docker", ["volume", "rm", "-f", volume]);
  }
}

/** The stall floor of this machine right now: the longest event-loop delay of this process doing nothing. */
async function idleStall(ms: number): Promise<{ maxMs: number; p99Ms: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  await new Promise((r) => setTimeout(r, ms));
  delay.disable();
  return { maxMs: delay.max / 1e6, p99Ms: delay.percentile(99) / 1e6 };
}

/** The provider collecting the same amount: RSS growth and longest event-loop stall of this process while it does. */
async function providerCollect(runner: DockerRunner, dir: string, mib: number) {
  const req = request(["sh", "-c", `dd if=/dev/urandom of=/out/big bs=1M count=${mib} 2>/dev/null`]);
  req.limits.outputBytes = (mib + 16) * MiB;
  req.limits.timeoutMs = 300_000;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 5);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  let collectingAt = 0;
  let finishedAt = 0;
  const result = await runner.run(req, {
    archiveFile: join(dir, "collect.tar"),
    onEvent: (e) => {
      if (e.kind !== "state") return;
      if (e.state === "collecting") { collectingAt = performance.now(); delay.enable(); }
      if (e.state === "finished") { finishedAt = performance.now(); delay.disable(); }
    },
  });
  const collectMs = finishedAt - collectingAt;
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  if (result.outputs.bytes !== mib * MiB) throw new Error(`collected ${result.outputs.bytes} bytes, expected ${mib * MiB}`);
  return { collectMs, rssGrowthMiB: (rssPeak - rssBefore) / MiB, maxStallMs: delay.max / 1e6, p99StallMs: delay.percentile(99) / 1e6, archiveBytes: result.outputs.archiveBytes };
}

async function main(): Promise<void> {
  await ensureDocker();
  const testRun = dockerTestRun();
  const dir = await mkdtemp(join(os.tmpdir(), "ntx-bench-provider-"));
  const nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url });
  try {
    // The job-events stream acks the daemon's phase events (unacked ones are published again each pass).
    await ensureMarketInfrastructure(nc);
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
      events: { publish: (e) => { if (e.kind === "state" && e.state === "running" && !runningAt.has(e.jobHash)) runningAt.set(e.jobHash, performance.now()); return sink.publish(e); } },
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

    // Collection of a large output: the provider (in this process) and the bare docker cp, one after the other.
    const collected = await providerCollect(runner, dir, COLLECT_MIB);
    const bare = await bareDockerCp(testRun.labels, COLLECT_MIB, runner);
    const bareCpMs = bare.cpMs;
    const idle = await idleStall(Math.max(1000, collected.collectMs));
    const { stdout: load } = await run("uptime");

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
        loadAtEnd: load.trim(),
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
      collect: {
        outputMiB: COLLECT_MIB,
        providerCollectMs: Math.round(collected.collectMs),
        bareDockerCpMs: Math.round(bareCpMs),
        ratioToBareDockerCp: Math.round((collected.collectMs / bareCpMs) * 100) / 100,
        bareNodeDrainMs: Math.round(bare.nodeDrainMs),
        ratioToBareNodeDrain: Math.round((collected.collectMs / bare.nodeDrainMs) * 100) / 100,
        rssGrowthMiB: Math.round(collected.rssGrowthMiB * 10) / 10,
        rssTarget: "< 64",
        maxEventLoopStallMs: Math.round(collected.maxStallMs * 10) / 10,
        stallFloor: "<= 100",
        p99EventLoopDelayMs: Math.round(collected.p99StallMs * 10) / 10,
        idleMaxEventLoopStallMs: Math.round(idle.maxMs * 10) / 10,
        idleP99EventLoopDelayMs: Math.round(idle.p99Ms * 10) / 10,
        archiveBytes: collected.archiveBytes,
        what: "provider: from the 'collecting' state to 'finished' (getArchive stream parsed, canonical tar written to disk and blake2b-hashed; container removal not counted); bare: `docker cp CONTAINER:/out - > /dev/null` of the same bytes from a tmpfs volume (CLI process included); bare node drain: the same archive read through the runner's dockerode connection and dropped; RSS and stall measured in this (the provider's) process; idle stall: the same histogram over as long with this process doing nothing (the machine's scheduling noise)",
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
