import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { DockerRunner } from "../../src/provider/docker/index.js";
import { readFileSync } from "node:fs";
import { parseTar } from "../../src/provider/result/tar.js";
import type { RunEvent, RunHandle, RunRequestInput } from "../../src/provider/types.js";
import { dockerAnswers, dockerCli, dockerTestRun, ensureDocker, imageId, TEST_IMAGE } from "../helpers/docker.js";

const MiB = 1024 * 1024;
const testRun = dockerTestRun();
let runner: DockerRunner;

function jobHash(): string {
  return randomBytes(32).toString("hex");
}

function request(command: string[], overrides: Partial<RunRequestInput> = {}): RunRequestInput {
  return {
    jobHash: jobHash(),
    image: TEST_IMAGE,
    command,
    resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64, gpus: 0 },
    limits: { timeoutMs: 30_000, workDirBytes: 8 * MiB, outputBytes: 4 * MiB, logBytes: 1 * MiB },
    ...overrides,
  };
}

function files(archiveFile: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of parseTar(readFileSync(archiveFile))) out[e.path.toString("utf8")] = e.type === "file" ? e.data.toString("utf8") : e.type;
  return out;
}

async function runWithLogs(req: RunRequestInput) {
  const events: RunEvent[] = [];
  const result = await runner.run(req, { onEvent: (e) => events.push(e) });
  const lines = events.flatMap((e) => (e.kind === "log" ? [e.line] : []));
  const states = events.flatMap((e) => (e.kind === "state" ? [e.state] : []));
  return { result, lines, states };
}

beforeAll(async () => {
  await ensureDocker();
  runner = new DockerRunner({ allowImages: [TEST_IMAGE, "ntx-test/busybox:*"], labels: testRun.labels });
});

afterAll(async () => {
  await testRun.cleanup();
});

describe("DockerRunner against the real engine", () => {
  it("runs a job, returns its outputs and a hash that follows the content", async () => {
    const script = (content: string) => ["sh", "-c", `echo ${content} > /out/a.txt && mkdir /out/sub && printf x > /out/sub/b && echo wrote ${content}`];
    const first = await runWithLogs(request(script("hello")));
    expect(first.result.exitCode).toBe(0);
    expect(first.result.oomKilled).toBe(false);
    expect(first.result.timedOut).toBe(false);
    expect(first.lines).toContain("wrote hello");
    expect(first.states).toEqual(["preparing", "running", "collecting", "finished"]);
    expect(files(first.result.outputs.archiveFile)).toEqual({ "a.txt": "hello\n", "sub/": "dir", "sub/b": "x" });
    expect(first.result.outputs.resultHash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.result.imageId).toBe(await imageId(TEST_IMAGE));

    const same = await runner.run(request(script("hello")));
    expect(same.outputs.resultHash).toBe(first.result.outputs.resultHash);
    const different = await runner.run(request(script("world")));
    expect(different.outputs.resultHash).not.toBe(first.result.outputs.resultHash);
  });

  it("runs as nobody, without capabilities, on a read-only root, with the env it was given", async () => {
    const { result, lines } = await runWithLogs(
      request(["sh", "-c", 'id -u; id -g; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; touch /etc/x 2>/dev/null || echo root-read-only; echo "FOO=$FOO"; exit 3'], {
        env: { FOO: "bar baz" },
      }),
    );
    expect(result.exitCode).toBe(3);
    expect(lines).toEqual(["65534", "65534", "CapEff:\t0000000000000000", "NoNewPrivs:\t1", "root-read-only", "FOO=bar baz"]);
  });

  it("contains a fork bomb at the pids limit", async () => {
    const { result, lines } = await runWithLogs(
      request(["sh", "-c", "f(){ f|f& };f; sleep 3; echo still-here"], { resources: { cpuCores: 0.5, memoryMiB: 64, pids: 32, gpus: 0 }, limits: { timeoutMs: 20_000, workDirBytes: MiB, outputBytes: MiB, logBytes: 256 * 1024 } }),
    );
    expect(lines.some((l) => /can't fork|Resource temporarily unavailable/.test(l))).toBe(true);
    expect(result.timedOut || result.exitCode !== null).toBe(true);
  });

  it("reports a memory hog as OOM-killed", async () => {
    const { result } = await runWithLogs(request(["tail", "/dev/zero"]));
    expect(result.exitCode).toBe(137);
    expect(result.oomKilled).toBe(true);
  });

  it("reports a child killed by OOM even when the job itself exits 0", async () => {
    const { result } = await runWithLogs(request(["sh", "-c", "tail /dev/zero; echo survived"]));
    expect(result.exitCode).toBe(0);
    expect(result.oomKilled).toBe(true);
  });

  it("kills a CPU spin at the wall-clock timeout", async () => {
    const { result } = await runWithLogs(request(["sh", "-c", "while :; do :; done"], { limits: { timeoutMs: 1500, workDirBytes: MiB, outputBytes: MiB, logBytes: MiB } }));
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.outputs.files).toBe(0);
  });

  it("stops a disk fill at the size of the work dir and of the outputs dir", async () => {
    const { result, lines } = await runWithLogs(
      request(["sh", "-c", "dd if=/dev/zero of=/work/fill bs=1M count=100 2>&1; echo worksize=$(wc -c < /work/fill); dd if=/dev/zero of=/out/fill bs=1M count=100 2>&1; true"], {
        limits: { timeoutMs: 30_000, workDirBytes: 8 * MiB, outputBytes: 2 * MiB, logBytes: MiB },
      }),
    );
    expect(lines.filter((l) => /No space left on device/.test(l))).toHaveLength(2);
    const workSize = Number(lines.find((l) => l.startsWith("worksize="))?.slice("worksize=".length));
    expect(workSize).toBeGreaterThan(0);
    expect(workSize).toBeLessThanOrEqual(8 * MiB);
    expect(result.exitCode).toBe(0);
    expect(result.outputs.bytes).toBeGreaterThan(0);
    expect(result.outputs.bytes).toBeLessThanOrEqual(2 * MiB);
  });

  it("gives the job no network but loopback", async () => {
    const { lines } = await runWithLogs(request(["sh", "-c", "ls /sys/class/net; nc -w 2 172.17.0.1 80 </dev/null 2>&1 || echo unreachable"]));
    expect(lines[0]).toBe("lo");
    expect(lines).toContain("unreachable");
    expect(lines.filter((l) => l !== "lo" && !/unreachable|Network|nc:/.test(l))).toEqual([]);
  });

  it("kills a flood of logs at the cap", async () => {
    const cap = 64 * 1024;
    const { result, lines } = await runWithLogs(request(["yes", "flood"], { limits: { timeoutMs: 30_000, workDirBytes: MiB, outputBytes: MiB, logBytes: cap } }));
    expect(result.logTruncated).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.logBytes).toBe(cap);
    expect(lines.length).toBeGreaterThan(1000);
  });

  it("refuses unpinned, unlisted, missing and mislabelled images", async () => {
    const codes = async (image: string) => runner.run(request(["true"], { image })).then(() => "ran", (e: unknown) => (isNtxError(e) ? e.code : String(e)));
    expect(await codes("ntx-test/busybox")).toBe("IMAGE_NOT_PINNED");
    expect(await codes("ntx-test/busybox:latest")).toBe("IMAGE_NOT_PINNED");
    expect(await codes("evil/miner:1")).toBe("IMAGE_NOT_ALLOWED");
    expect(await codes("ntx-test/busybox:404")).toBe("IMAGE_NOT_FOUND");
    const id = await imageId(TEST_IMAGE);
    const byId = new DockerRunner({ allowImages: [id, `sha256:${"0".repeat(64)}`], labels: testRun.labels });
    expect((await byId.run(request(["true"], { image: id }))).exitCode).toBe(0);
    expect(await byId.run(request(["true"], { image: `sha256:${"0".repeat(64)}` })).then(() => "ran", (e: unknown) => (isNtxError(e) ? e.code : String(e)))).toBe("IMAGE_NOT_FOUND");
  });

  it("finds a run again after the provider process died, and collects or discards it", async () => {
    const startAndDie = async (req: RunRequestInput): Promise<RunHandle> => {
      const child = spawn("npx", ["tsx", "test/provider/fixtures/start-and-die.ts", JSON.stringify({ req, labels: testRun.labels })], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
      await new Promise<void>((resolve) => child.on("exit", () => resolve()));
      const handle = JSON.parse(out.trim().split("\n").pop() ?? "{}") as RunHandle;
      expect(handle.execId).toBeTruthy();
      return handle;
    };
    const finished = request(["sh", "-c", "echo resumed > /out/r.txt"]);
    const handle = await startAndDie(finished);
    expect((await runner.list()).map((h) => h.containerId)).toContain(handle.containerId);
    await new Promise((r) => setTimeout(r, 500));
    const result = await runner.resume(handle, finished);
    expect(result?.exitCode).toBe(0);
    expect(files(result!.outputs.archiveFile)).toEqual({ "r.txt": "resumed\n" });

    const long = request(["sleep", "60"]);
    const longHandle = await startAndDie(long);
    expect(await runner.resume(longHandle, long)).toBeNull();
    expect((await runner.list()).map((h) => h.containerId)).not.toContain(longHandle.containerId);
  });

  it("finds an outputs volume orphaned by a crash before its container existed, so a restart removes it", async () => {
    const name = `ntx-out-orphan-${Date.now()}`;
    const labels = Object.entries({ ...testRun.labels, "ntx.managed": "1", "ntx.job": "ab".repeat(32) }).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    await dockerCli(["volume", "create", ...labels, name]);
    const orphan = (await runner.list()).find((h) => h.volumeName === name);
    expect(orphan).toMatchObject({ containerId: "", volumeName: name });
    await runner.discard(orphan!);
    expect((await runner.list()).map((h) => h.volumeName)).not.toContain(name);
  });

  it("leaves the host healthy: docker answers, nothing of this run is left", async () => {
    expect(await dockerAnswers()).toBe(true);
    expect(await dockerCli(["info", "--format", "{{.ServerVersion}}"])).toMatch(/\d+\.\d+/);
    expect(await testRun.leftovers()).toEqual({ containers: [], volumes: [] });
  });
});

describe("DockerRunner extras", () => {
  it("keeps hard-linked and symlinked outputs", async () => {
    const result = await runner.run(request(["sh", "-c", "echo data > /out/a; ln /out/a /out/b; ln -s a /out/c"]));
    const entries = parseTar(readFileSync(result.outputs.archiveFile));
    // Links stay links: a hard link is a header naming its target, never a second copy of the data.
    expect(entries.map((e) => [e.path.toString(), e.type, e.type === "file" ? e.data.toString() : e.linkName.toString()])).toEqual([
      ["a", "file", "data\n"],
      ["b", "hardlink", "a"],
      ["c", "symlink", "a"],
    ]);
  });

  it("runs the image's own command when the job gives none", async () => {
    const result = await runner.run(request([]));
    // The test image's CMD is /bin/sh, which exits 0 at once without a stdin.
    expect(result.exitCode).toBe(0);
  });

  it("loads an image from a docker save tarball with progress, and refuses a bad one", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "ntx-load-"));
    try {
      const tar = join(dir, "image.tar");
      await dockerCli(["save", "-o", tar, TEST_IMAGE]);
      const seen: number[] = [];
      await runner.loadImage(tar, (read, total) => seen.push(read / total));
      expect(seen.at(-1)).toBe(1);
      await writeFile(join(dir, "bad.tar"), "not a tarball at all");
      const code = await runner.loadImage(join(dir, "bad.tar")).then(() => "ok", (e: unknown) => (isNtxError(e) ? e.code : String(e)));
      expect(["IMAGE_LOAD_FAILED", "DOCKER_FAILED"]).toContain(code);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
