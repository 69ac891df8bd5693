import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRunner, parseRunRequest } from "../../src/provider/docker/docker-runner.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { JobStateStore } from "../../src/provider/state-store.js";
import { TarParser } from "../../src/provider/result/tar.js";
import { collectOutputs } from "../../src/provider/result/collect.js";
import { MAX_OUTPUT_FILES } from "../../src/provider/docker/container-spec.js";
import { Readable } from "node:stream";
import { blake2b256Hex } from "../../src/crypto/sodium.js";
import type { JobRunner, RunRequestInput } from "../../src/provider/types.js";
import { Blake2b256Stream } from "../../src/crypto/sodium.js";
import { dockerCli, dockerTestRun, ensureDocker, TEST_IMAGE } from "../helpers/docker.js";
import { FakeEscrow } from "./fake-escrow.js";
import { isNtxError } from "../../offchain/errors.js";

/**
 * Images built here to misbehave, run through the project's Docker runner on the real engine. The heavy sizes of
 * the issue (500,000 hard links, a 256 MiB output) run with NTX_HEAVY=1; the default tier runs the same jobs
 * smaller. RSS is sampled in this process while the runner streams the container's tar through its collector.
 */

const MiB = 1024 * 1024;
const HEAVY = process.env.NTX_HEAVY === "1";
const HOSTILE = "ntx-test-provider/hostile:1";
const COVERS_OUT = "ntx-test-provider/hostile-out:1";
const testRun = dockerTestRun();
let runner: DockerRunner;
let dir: string;

function request(command: string[], limits: Partial<RunRequestInput["limits"]> = {}, memoryMiB = 64): RunRequestInput {
  return {
    jobHash: randomBytes(32).toString("hex"),
    image: HOSTILE,
    command,
    resources: { cpuCores: 1, memoryMiB, pids: 64, gpus: 0 },
    limits: { timeoutMs: 600_000, workDirBytes: 16 * MiB, outputBytes: 4 * MiB, logBytes: MiB, ...limits },
  };
}

/** Entries of an archive file, read as a stream (the big ones never fit a test's memory either). */
async function entries(file: string): Promise<{ names: Buffer[]; types: Map<string, number>; dataBytes: number; links: Set<string> }> {
  const names: Buffer[] = [];
  const types = new Map<string, number>();
  const links = new Set<string>();
  let dataBytes = 0;
  let keepNames = true;
  const parser = new TarParser({
    entry: (h) => {
      if (keepNames && names.length < 1000) names.push(h.path);
      types.set(h.type, (types.get(h.type) ?? 0) + 1);
      if (h.type === "hardlink" && links.size < 10) links.add(h.linkName.toString("latin1"));
    },
    data: (c) => { dataBytes += c.length; },
    entryEnd: () => undefined,
  });
  for await (const chunk of createReadStream(file)) parser.push(chunk as Buffer);
  parser.finish();
  keepNames = false;
  return { names, types, dataBytes, links };
}

/** Runs a job while sampling this process's RSS; returns the growth over the level before it started. */
async function runMeasured(req: RunRequestInput) {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  const archiveFile = join(dir, `${req.jobHash}.tar`);
  try {
    const result = await runner.run(req, { archiveFile });
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - before };
  } finally {
    clearInterval(timer);
  }
}

beforeAll(async () => {
  await ensureDocker();
  dir = await mkdtemp(join(tmpdir(), "ntx-hostile-"));
  // A declared VOLUME (Docker would back it with an anonymous volume on host disk) and a HEALTHCHECK that
  // writes into the outputs every second if it ever runs.
  await writeFile(join(dir, "Dockerfile"), [
    `FROM ${TEST_IMAGE}`,
    "VOLUME /data",
    "VOLUME /var/cache/hostile",
    'HEALTHCHECK --interval=1s CMD ["/bin/sh", "-c", "date >> /out/healthcheck-ran"]',
    "",
  ].join("\n"));
  await dockerCli(["build", "-q", "-t", HOSTILE, dir]);
  // An image whose VOLUME would cover the outputs folder the runner mounts.
  const outDir = join(dir, "covers-out");
  await mkdir(outDir);
  await writeFile(join(outDir, "Dockerfile"), `FROM ${TEST_IMAGE}\nVOLUME /out\n`);
  await dockerCli(["build", "-q", "-t", COVERS_OUT, outDir]);
  runner = new DockerRunner({ allowImages: [HOSTILE, COVERS_OUT], labels: testRun.labels });
}, 300_000);

afterAll(async () => {
  await testRun.cleanup();
  await dockerCli(["rmi", "-f", HOSTILE, COVERS_OUT]).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("hostile images on the real engine", () => {
  it("a declared VOLUME is a tmpfs inside the job's disk: writes stop at the limit, no volume on the host, no healthcheck", async () => {
    const req = request(["sh", "-c", "dd if=/dev/zero of=/data/fill bs=1M count=64 2>/dev/null; echo data=$(du -sk /data | cut -f1); dd if=/dev/zero of=/var/cache/hostile/f bs=1M count=64 2>/dev/null; echo cache=$(du -sk /var/cache/hostile | cut -f1); sleep 3"]);
    const lines: string[] = [];
    let mounts: Array<{ Type: string; Destination: string }> = [];
    const result = await runner.run(req, {
      archiveFile: join(dir, "vol.tar"),
      onEvent: (e) => { if (e.kind === "log") lines.push(e.line); },
      onStarted: async (h) => { mounts = JSON.parse(await dockerCli(["inspect", "--format", "{{json .Mounts}}", h.containerId])) as typeof mounts; },
    });
    expect(result.exitCode).toBe(0);
    // The only Docker volume is the runner's own outputs tmpfs at /out: /data and the cache are not volumes.
    expect(mounts.filter((m) => m.Type === "volume").map((m) => m.Destination)).toEqual(["/out"]);
    const kib = (name: string) => Number(lines.find((l) => l.startsWith(`${name}=`))?.split("=")[1]);
    // Each declared volume gets a share of the 16 MiB disk: far from the 64 MiB the job tried to write.
    expect(kib("data")).toBeGreaterThan(0);
    expect(kib("data") + kib("cache")).toBeLessThanOrEqual(16 * 1024);
    // Three seconds with a 1 s healthcheck interval: had it run, /out would hold its file.
    const { names } = await entries(result.outputs.archiveFile);
    expect(names.map((n) => n.toString())).not.toContain("healthcheck-ran");
    expect(await testRun.leftovers()).toEqual({ containers: [], volumes: [] });
  });

  it("a 100 × 'é' file name (200 bytes) is collected by bytes, completed and paid once", async () => {
    const name = "é".repeat(100);
    const store = await JobStateStore.open(join(dir, "state-e"));
    const chain = new FakeEscrow();
    const key = proofKeyFromHex(randomBytes(32).toString("hex"));
    const payout = "addr_test1vz0provider0payout0address0for0tests0only0000000000000";
    let runs = 0;
    const counting: JobRunner = {
      run: (r, o) => { runs++; return runner.run(r, o); },
      resume: (h, r, o) => runner.resume(h, r, o),
      list: () => runner.list(),
      discard: (h) => runner.discard(h),
    };
    const daemon = new ProviderDaemon({ runner: counting, gateway: chain, store, proofKey: key, payoutAddress: payout, completeMarginMs: 1000 });
    const req = parseRunRequest(request(["sh", "-c", `printf hi > "/out/${name}"; mkdir "/out/${name.slice(0, 60)}"; ln -s "../${name}" "/out/${name.slice(0, 60)}/${name}"`]));
    await daemon.accept({ request: req, price: 10n, deadline: chain.time + 3_600_000, bidTerms: { challengeWindowMs: 1000 } });
    chain.lock({ jobHash: req.jobHash, amount: 10n, ntxInValue: 10n, payout, proofKey: key.providerId, deadline: chain.time + 3_600_000, challengeWindow: 1000 });
    const until = Date.now() + 120_000;
    while (store.get(req.jobHash)?.observed.phase !== "completed" && Date.now() < until) {
      await daemon.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(store.get(req.jobHash)?.observed.phase).toBe("completed");
    chain.time += 2000;
    // The run's own bookkeeping may still be finishing: tick until the claim went out (or time out and compare).
    const claimBy = Date.now() + 30_000;
    while (store.get(req.jobHash)?.observed.phase !== "settled" && Date.now() < claimBy) {
      await daemon.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(store.get(req.jobHash)?.observed.phase).toBe("settled");
    expect(runs).toBe(1);
    expect(chain.completes).toBe(1);
    expect(chain.paid.get(payout)).toBe(10n);
    const archive = await readFile(store.get(req.jobHash)!.observed.result!.archiveFile);
    expect(blake2b256Hex(archive)).toBe(store.get(req.jobHash)!.observed.result!.resultHash);
    const { names } = await entries(store.get(req.jobHash)!.observed.result!.archiveFile);
    expect(names.map((n) => n.toString("hex"))).toContain(Buffer.from(name).toString("hex"));
    expect(names.map((n) => n.toString("hex"))).toContain(Buffer.from(`${name.slice(0, 60)}/${name}`).toString("hex"));
    await daemon.stop({ waitForRuns: true });
  }, 180_000);

  const links = HEAVY ? 500_000 : 50_000;
  it(`a job making ${links} hard links to one file is stopped at the outputs' inode cap, and its links are kept as links`, async () => {
    // tmpfs charges an inode per hard link, so the outputs folder (nr_inodes = MAX_OUTPUT_FILES) holds at most that
    // many names: the attack is bounded where the files are made. 1,000 links one by one, then cp -al copies.
    const perDir = 1000;
    const script = `mkdir /out/d0; echo payload > /out/d0/f0; i=1; while [ $i -lt ${perDir} ] && ln /out/d0/f0 /out/d0/f$i 2>/dev/null; do i=$((i+1)); done; j=1; while [ $j -lt ${links / perDir} ] && cp -al /out/d0 /out/d$j 2>/dev/null; do j=$((j+1)); done; exit 0`;
    const { result, growth } = await runMeasured(request(["sh", "-c", script], { outputBytes: 64 * MiB }, 64));
    expect(result.exitCode).toBe(0);
    expect(result.outputTooLarge).toBe(false);
    const seen = await entries(result.outputs.archiveFile);
    expect(seen.types.get("file")).toBe(1);
    expect(seen.types.get("hardlink")).toBeGreaterThan(1000);
    expect(seen.types.get("hardlink")).toBeLessThan(MAX_OUTPUT_FILES);
    expect([...seen.links]).toEqual(["d0/f0"]);
    expect(seen.dataBytes).toBe("payload\n".length);
    expect(growth).toBeLessThan(64 * MiB);
  }, 900_000);

  it(`a Docker-style tar of ${links} hard links to one file streams through the collector with RSS growth under 64 MiB`, async () => {
    // What an engine without the inode cap would send: built lazily, 64 KiB at a time, never whole in memory.
    const header = (name: string, type: string, size: number, link = "") => {
      const b = Buffer.alloc(512);
      b.write(name, 0);
      b.write("0000644\0", 100);
      b.write("0000000\0", 108);
      b.write("0000000\0", 116);
      b.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
      b.write("00000000000\0", 136);
      b.fill(0x20, 148, 156);
      b.write(type, 156);
      b.write(link, 157);
      b.write("ustar\x0000", 257);
      let sum = 0;
      for (const x of b) sum += x;
      b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
      return b;
    };
    async function* dockerTar() {
      yield Buffer.concat([header("out/", "5", 0), header("out/f", "0", 8), Buffer.from("payload\n"), Buffer.alloc(504)]);
      const perChunk = 128;
      for (let i = 0; i < links; i += perChunk) {
        const parts: Buffer[] = [];
        for (let k = i; k < Math.min(links, i + perChunk); k++) parts.push(header(`out/l${String(k).padStart(7, "0")}`, "1", 0, "out/f"));
        yield Buffer.concat(parts);
        if (i % (perChunk * 64) === 0) await new Promise((r) => setImmediate(r));
      }
      yield Buffer.alloc(1024);
    }
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
    const archivePath = join(dir, "links.tar");
    const collected = await collectOutputs(Readable.from(dockerTar()), { folder: "/out", archivePath, limits: { maxDataBytes: MiB, maxArchiveBytes: 1024 * MiB, maxEntries: 1_000_000 } }).finally(() => clearInterval(timer));
    expect(collected.tooLarge).toBe(false);
    const seen = await entries(archivePath);
    expect(seen.types.get("hardlink")).toBe(links);
    expect([...seen.links]).toEqual(["f"]);
    expect(peak - before).toBeLessThan(64 * MiB);
    await rm(archivePath, { force: true });
  }, 900_000);

  const bigMiB = HEAVY ? 256 : 48;
  it(`a ${bigMiB} MiB output is streamed to disk and hashed with RSS growth under 64 MiB`, async () => {
    const { result, growth } = await runMeasured(request(["sh", "-c", `dd if=/dev/urandom of=/out/big bs=1M count=${bigMiB} 2>/dev/null`], { outputBytes: (bigMiB + 8) * MiB }, 32));
    expect(result.exitCode).toBe(0);
    expect(result.outputTooLarge).toBe(false);
    expect(result.outputs.bytes).toBe(bigMiB * MiB);
    const hash = await new Promise<string>((resolve, reject) => {
      const h = new Blake2b256Stream();
      createReadStream(result.outputs.archiveFile).on("data", (c) => h.update(c as Buffer)).on("end", () => resolve(h.hex())).on("error", reject);
    });
    expect(hash).toBe(result.outputs.resultHash);
    expect(growth).toBeLessThan(64 * MiB);
    await rm(result.outputs.archiveFile, { force: true });
  }, 900_000);

  it("an image declaring VOLUME /out is refused before confirming (preflight) and never run", async () => {
    await expect(runner.preflight(COVERS_OUT)).rejects.toThrow(/VOLUME \/out/);
    await expect(runner.preflight(HOSTILE)).resolves.toBeUndefined();
    const error = await runner.run({ ...request(["true"]), image: COVERS_OUT }).then(() => null, (e: unknown) => e);
    expect(isNtxError(error, "IMAGE_VOLUME_REFUSED")).toBe(true);
  });

  it("leaves no container and no volume of this run on the host", async () => {
    expect(await testRun.leftovers()).toEqual({ containers: [], volumes: [] });
  });
});
