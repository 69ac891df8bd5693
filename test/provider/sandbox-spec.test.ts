import { describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { containerOptions, execOptions, hostConfig, KEEPER_PATH, LogSplitter, MAX_LINE, parseRunRequest } from "../../src/provider/docker/index.js";
import { checkImageAllowed, isPinned, parseImageReference } from "../../src/provider/image-policy.js";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectBuffer } from "../../src/provider/result/collect.js";
import { parseTar, writeDeterministicTar } from "../../src/provider/result/tar.js";

const base = parseRunRequest({
  jobHash: "ab".repeat(32),
  escrowRef: `${"cd".repeat(32)}#0`,
  image: "ntx-test/busybox:1",
  command: ["sh", "-c", "echo hi"],
  env: { A: "1" },
  resources: { cpuCores: 1.5, memoryMiB: 256, pids: 100, gpus: 0 },
  limits: { timeoutMs: 1000, workDirBytes: 1 << 20, outputBytes: 2 << 20, logBytes: 4096 },
});

describe("container spec", () => {
  it("hardens the container per DESIGN.md section 7", () => {
    const hc = hostConfig(base, "vol", "/bin/busybox");
    expect(hc).toMatchObject({
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Memory: 256 * 1024 * 1024 + (1 << 20) + (2 << 20),
      MemorySwap: 256 * 1024 * 1024 + (1 << 20) + (2 << 20),
      NanoCpus: 1_500_000_000,
      PidsLimit: 100,
      Binds: [`/bin/busybox:${KEEPER_PATH}:ro`],
      Mounts: [{ Type: "volume", Source: "vol", Target: "/out" }],
    });
    // The job's disk is shared between /work and /dev/shm: an eighth for shm, the rest for /work.
    expect(hc.ShmSize).toBe((1 << 20) / 8);
    expect(hc.Tmpfs?.["/work"]).toContain(`size=${(1 << 20) - (1 << 20) / 8}`);
    expect(hc.Tmpfs?.["/work"]).toContain("uid=65534,gid=65534");
    expect(hc.DeviceRequests).toBeUndefined();
    expect(hc.Privileged).toBeUndefined();
  });

  it("asks for NVIDIA GPUs only when the job does", () => {
    const gpu = parseRunRequest({ ...base, resources: { ...base.resources, gpus: 2, gpuDevices: ["1", "3"] } });
    expect(hostConfig(gpu, "vol", "/bin/busybox").DeviceRequests).toEqual([{ Driver: "nvidia", DeviceIDs: ["1", "3"], Capabilities: [["gpu", "compute", "utility"]] }]);
    // "Any two GPUs" is never asked for: without the reserved devices the run is refused.
    expect(() => hostConfig(parseRunRequest({ ...base, resources: { ...base.resources, gpus: 2 } }), "vol", "/bin/busybox")).toThrow(/reserved devices/);
    expect(() => parseRunRequest({ ...base, resources: { ...base.resources, gpus: 2, gpuDevices: ["1"] } })).toThrow();
  });

  it("covers every VOLUME the image declares with a tmpfs sharing the job's disk, and disables its HEALTHCHECK", () => {
    const options = containerOptions({ request: base, imageId: "sha256:x", imageVolumes: ["/data/", "/var/lib/db", "/work"], volumeName: "vol", keeperBinary: "/bin/busybox", name: "n", startedAt: 5 });
    const hc = options.HostConfig!;
    expect(Object.keys(hc.Tmpfs ?? {}).sort()).toEqual(["/data", "/var/lib/db", "/work"]);
    const sizes = Object.values(hc.Tmpfs ?? {}).map((o) => Number(/size=(\d+)/.exec(o)?.[1]));
    expect(sizes.reduce((a, b) => a + b, 0) + (hc.ShmSize ?? 0)).toBeLessThanOrEqual(base.limits.workDirBytes);
    expect(options.Healthcheck).toEqual({ Test: ["NONE"] });
    expect(hc.Mounts).toEqual([{ Type: "volume", Source: "vol", Target: "/out" }]);
    for (const bad of [["/out"], ["/out/x"], ["/"], ["/.ntx"], ["/dev/shm"], Array.from({ length: 9 }, (_, i) => `/v${i}`)]) {
      expect(() => hostConfig(base, "vol", "/bin/busybox", bad)).toThrow(/VOLUME|volumes/);
    }
  });

  it("labels the container with the job and its escrow, and runs the job as an unprivileged exec", () => {
    const options = containerOptions({ request: base, imageId: "sha256:x", volumeName: "vol", keeperBinary: "/bin/busybox", name: "n", startedAt: 5, extraLabels: { run: "t" } });
    expect(options.Labels).toMatchObject({ "ntx.job": base.jobHash, "ntx.escrow": base.escrowRef, "ntx.volume": "vol", "ntx.started-at": "5", run: "t" });
    expect(options.User).toBe("65534:65534");
    expect(execOptions(base)).toMatchObject({ Cmd: ["sh", "-c", "echo hi"], Env: ["A=1"], User: "65534:65534", Privileged: false });
  });

  it("rejects a malformed request with a stable code", () => {
    try {
      parseRunRequest({ ...base, jobHash: "XYZ" });
      expect.unreachable();
    } catch (error) {
      expect(isNtxError(error, "RUN_REQUEST_INVALID")).toBe(true);
    }
  });
});

describe("image policy", () => {
  it("parses and pins references", () => {
    expect(parseImageReference("reg:5000/a/b:1")).toMatchObject({ repository: "reg:5000/a/b", tag: "1" });
    expect(isPinned(parseImageReference("reg:5000/a/b"))).toBe(false);
    expect(isPinned(parseImageReference(`a@sha256:${"1".repeat(64)}`))).toBe(true);
  });
  it("allows exact entries and repo wildcards only", () => {
    expect(checkImageAllowed("a/b:2", ["a/b:*"]).tag).toBe("2");
    expect(() => checkImageAllowed("a/c:2", ["a/b:*"])).toThrow(/allow-list/);
    expect(() => checkImageAllowed("a/b:latest", ["a/b:*"])).toThrow(/not pinned/);
    expect(() => checkImageAllowed("a@sha256:zz", ["a@*"])).toThrow(/digest/);
  });
});

describe("result packing", () => {
  const file = (path: string, text: string, mode = 0o644) => ({ path, type: "file" as const, mode, data: Buffer.from(text) });
  const dir = mkdtempSync(join(tmpdir(), "ntx-pack-"));
  let n = 0;
  const pack = (archive: Uint8Array) => collectBuffer(archive, "/out", join(dir, `${n++}.tar`));

  it("is independent of entry order, timestamps and owners, and round-trips", () => {
    const a = writeDeterministicTar([file("b", "2"), file("a", "1", 0o600)]);
    const b = writeDeterministicTar([file("a", "1", 0o640), file("b", "2")]);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(parseTar(a).map((e) => [e.path.toString(), e.data.toString()])).toEqual([["a", "1"], ["b", "2"]]);
  });

  it("keeps long paths through PAX records", () => {
    const long = `${"d".repeat(120)}/${"f".repeat(150)}`;
    expect(parseTar(writeDeterministicTar([file(long, "x")]))[0]?.path.toString()).toBe(long);
  });

  it("strips the outputs folder and hashes the content", async () => {
    const docker = writeDeterministicTar([{ path: "out", type: "dir", mode: 0o755 }, file("out/x", "1")]);
    const packed = await pack(docker);
    expect(parseTar(readFileSync(packed.archiveFile)).map((e) => e.path.toString())).toEqual(["x"]);
    expect(packed.resultHash).not.toBe((await pack(writeDeterministicTar([file("out/x", "2")]))).resultHash);
    expect(packed.resultHash).toBe((await pack(writeDeterministicTar([file("out/x", "1")]))).resultHash);
  });
});

describe("log splitting", () => {
  it("splits lines across chunks, keeps multi-byte characters whole and caps line length", () => {
    const lines: string[] = [];
    const s = new LogSplitter((l) => lines.push(l));
    const euro = Buffer.from("€");
    s.push(Buffer.concat([Buffer.from("a\nb"), euro.subarray(0, 1)]));
    s.push(Buffer.concat([euro.subarray(1), Buffer.from("\n")]));
    s.push(Buffer.alloc(MAX_LINE + 5, 0x7a));
    s.flush();
    expect(lines.slice(0, 2)).toEqual(["a", "b€"]);
    expect(lines[2]).toHaveLength(MAX_LINE);
    expect(lines[3]).toBe("zzzzz");
  });
});
