import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRunner } from "../../src/provider/docker/docker-runner.js";
import { dockerTestRun, ensureDocker, TEST_IMAGE } from "../helpers/docker.js";

/**
 * What the runner really asks Docker for a GPU job: the runner talks to a recording proxy in front of the real
 * engine's socket, and the test reads the `POST /containers/create` body it sent. This machine has no NVIDIA
 * runtime, so the engine then refuses to start the container: the run fails, and must leave nothing behind.
 */

const testRun = dockerTestRun();
let dir: string;
let proxy: Server;
const creates: Array<{ HostConfig?: { DeviceRequests?: unknown[] } }> = [];

beforeAll(async () => {
  await ensureDocker();
  dir = await mkdtemp(join(tmpdir(), "ntx-gpu-"));
  const socketPath = join(dir, "docker.sock");
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method === "POST" && /\/containers\/create/.test(req.url ?? "")) {
        // docker-modem sends the options as JSON in the body (and repeats them in the query string).
        const hostConfig = new URL(req.url ?? "", "http://docker").searchParams.get("HostConfig");
        creates.push(body.length > 0 ? (JSON.parse(body.toString("utf8")) as (typeof creates)[number]) : { HostConfig: JSON.parse(hostConfig ?? "{}") as never });
      }
      const upstream = httpRequest({ socketPath: "/var/run/docker.sock", method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.flushHeaders(); // event streams answer with headers long before any body
        up.pipe(res);
      });
      upstream.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(socketPath, resolve));
}, 300_000);

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await testRun.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe("GPU jobs", () => {
  it("ask Docker for exactly the reserved devices (DeviceIDs, never a Count) and leave nothing when the engine refuses", async () => {
    const runner = new DockerRunner({ allowImages: [TEST_IMAGE], labels: testRun.labels, docker: new Docker({ socketPath: join(dir, "docker.sock") }) });
    const request = {
      jobHash: randomBytes(32).toString("hex"),
      image: TEST_IMAGE,
      command: ["true"],
      resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64, gpus: 2, gpuDevices: ["1", "3"] },
      limits: { timeoutMs: 30_000, workDirBytes: 8 << 20, outputBytes: 4 << 20, logBytes: 1 << 20 },
    };
    const outcome = await runner.run(request).then(() => "ran", (e: unknown) => String(e));
    expect(creates).toHaveLength(1);
    expect(creates[0]!.HostConfig?.DeviceRequests).toEqual([{ Driver: "nvidia", DeviceIDs: ["1", "3"], Capabilities: [["gpu", "compute", "utility"]] }]);
    // Without an NVIDIA runtime the engine cannot give the devices: the job must not run on the CPU instead.
    expect(outcome).not.toBe("ran");
    expect(await testRun.leftovers()).toEqual({ containers: [], volumes: [] });
  }, 120_000);

  it("a GPU job without named devices is refused before Docker is asked anything", async () => {
    const before = creates.length;
    const runner = new DockerRunner({ allowImages: [TEST_IMAGE], labels: testRun.labels, docker: new Docker({ socketPath: join(dir, "docker.sock") }) });
    const request = {
      jobHash: randomBytes(32).toString("hex"),
      image: TEST_IMAGE,
      command: ["true"],
      resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64, gpus: 1 },
      limits: { timeoutMs: 30_000, workDirBytes: 8 << 20, outputBytes: 4 << 20, logBytes: 1 << 20 },
    };
    await expect(runner.run(request)).rejects.toThrow(/reserved devices/);
    expect(creates.length).toBe(before);
    expect(await testRun.leftovers()).toEqual({ containers: [], volumes: [] });
  }, 120_000);
});
