import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRunner } from "../../src/provider/docker/docker-runner.js";
import { mountedAt } from "../../src/provider/docker/host-mounts.js";
import { DockerServiceRunner } from "../../src/provider/docker/service-runner.js";
import type { ServiceHandle, ServiceRequestInput } from "../../src/provider/service/types.js";
import { standinNodeRequest } from "../helpers/standin-node.js";
import { LeaseKeeper, LeasePhase, GONE_AFTER_PASSES } from "../../src/provider/service/lease-keeper.js";
import { MemoryLeaseLedger } from "./memory-lease-ledger.js";
import { filesHolding } from "./files-holding.js";
import { dockerCli, dockerTestRun, ensureDocker, TEST_IMAGE } from "../helpers/docker.js";

/**
 * Services on the real engine, with the stand-in node image (a static C program on busybox, built here): the
 * volume is a file system of exactly the size asked, the asked port and no other is reachable from another
 * container (the outside), the engine restarts the service per its policy, the volume survives a container
 * restart, a crash and a provider restart, and a stop is clean.
 */

const exec = promisify(execFile);
const STANDIN = "ntx-test-service/standin-node:1";
const testRun = dockerTestRun();
const network = `ntx-test-service-net-${testRun.id}`;
let stateDir: string;
let secretsRoot: string;
let runner: DockerServiceRunner;
const handles: ServiceHandle[] = [];

const RELAY_TOPOLOGY = JSON.stringify({ localRoots: [{ accessPoints: [{ address: "relay1.example", port: 3001 }] }] });

function nodeRequest(overrides: Partial<ServiceRequestInput["service"]> = {}): ServiceRequestInput {
  return standinNodeRequest(STANDIN, { files: { dir: "/config", entries: { "config.json": "{}", "topology.json": RELAY_TOPOLOGY } }, ...overrides });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Connects from a container on the default bridge (the outside world of the service); returns what it read. */
async function probeFromOutside(host: string, port: number): Promise<string> {
  const out = await dockerCli(["run", "--rm", "--label", `ntx.test-run=${testRun.id}`, "--name", `ntx-test-service-probe-${randomBytes(3).toString("hex")}`, TEST_IMAGE, "sh", "-c", `nc -w 3 ${host} ${port} </dev/null || echo REFUSED`]);
  return out;
}

beforeAll(async () => {
  await ensureDocker();
  await exec("bash", ["scripts/standin-node-image.sh", STANDIN], { timeout: 120_000 });
  stateDir = await mkdtemp(join(tmpdir(), "ntx-test-service-state-"));
  secretsRoot = await mkdtemp(join(tmpdir(), "ntx-test-service-secrets-"));
  const images = new DockerRunner({ allowImages: ["ntx-test-service/standin-node:*"], labels: testRun.labels });
  runner = new DockerServiceRunner({ images, stateDir, secretsRoot, network, namePrefix: "ntx-test-service", labels: testRun.labels });
}, 180_000);

afterAll(async () => {
  for (const h of handles) await runner.remove(h).catch(() => undefined);
  await testRun.cleanup();
  await runner.removeNetwork().catch(() => undefined);
  // Whatever a failed test left mounted under our folders goes before the folders do.
  const table = await readFile("/proc/self/mountinfo", "utf8");
  for (const point of table.split("\n").map((l) => l.split(" ")[4] ?? "").filter((p) => p.startsWith(`${stateDir}/`) || p.startsWith(`${secretsRoot}/`))) {
    await exec("umount", [point]).catch(() => undefined);
  }
  await rm(stateDir, { recursive: true, force: true });
  await rm(secretsRoot, { recursive: true, force: true });
}, 120_000);

describe("service runner on the real engine", () => {
  it("publishes exactly the asked port, reachable from outside; the metrics port and the container itself are not", async () => {
    const request = nodeRequest();
    const handle = await runner.start(request);
    handles.push(handle);
    expect(handle.ports).toHaveLength(1);
    expect(handle.ports[0]).toMatchObject({ container: 3001, protocol: "tcp" });
    const inspect = JSON.parse(await dockerCli(["inspect", handle.containerId]))[0];
    expect(Object.keys(inspect.HostConfig.PortBindings)).toEqual(["3001/tcp"]);
    // The image EXPOSEs 12798 too: exposing must not publish it.
    expect(Object.keys(inspect.NetworkSettings.Ports).filter((k) => inspect.NetworkSettings.Ports[k])).toEqual(["3001/tcp"]);
    const status = await waitFor("healthy", async () => { const s = await runner.status(handle, request); return s.healthy ? s : undefined; });
    expect(status.metric).toBeGreaterThanOrEqual(0);

    const gateway = (await dockerCli(["network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"])).trim();
    const serviceIp = inspect.NetworkSettings.Networks[network].IPAddress as string;
    expect(await probeFromOutside(gateway, handle.ports[0]!.hostPort)).toContain("standin-node node-to-node");
    // The metrics port listens inside, but it is not published, and other networks cannot reach the container.
    expect(await probeFromOutside(gateway, 12798)).toContain("REFUSED");
    expect(await probeFromOutside(serviceIp, 12798)).toContain("REFUSED");
    expect(await probeFromOutside(serviceIp, 3001)).toContain("REFUSED");
  }, 120_000);

  it("holds the volume to the size asked (a full, allocated file system of its own) and keeps it across restarts", async () => {
    const request = nodeRequest();
    const handle = await runner.start(request);
    handles.push(handle);
    expect(handle.volumePath).toBeDefined();
    expect(await mountedAt(handle.volumePath!)).toBe(true);
    const image = handle.volumePath!.replace(/\.mnt$/, ".ext4");
    const st = await stat(image);
    expect(st.size).toBe(32 * 1024 * 1024);
    // Allocated, not sparse: the disk is set aside when the lease starts.
    expect(st.blocks * 512).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    const fill = await dockerCli(["exec", handle.containerId, "sh", "-c", "dd if=/dev/zero of=/data/fill bs=1M 2>&1; ls -l /data/fill; rm /data/fill"]).catch((e: { stdout?: string }) => e.stdout ?? "");
    expect(fill).toMatch(/No space left on device/);
    const filled = Number(/\s(\d+)\s+\w{3}\s+\d+/.exec(fill)?.[1] ?? "0");
    expect(filled).toBeGreaterThan(16 * 1024 * 1024);
    expect(filled).toBeLessThanOrEqual(32 * 1024 * 1024);
    // Nothing the image declared (VOLUME /data /ipc) became an anonymous volume on host disk.
    const inspect = JSON.parse(await dockerCli(["inspect", handle.containerId]))[0];
    expect((inspect.Mounts as Array<{ Type: string }>).filter((m) => m.Type === "volume")).toEqual([]);

    // Still fully allocated after the node wrote and deleted (nothing in the image zeroes by punching holes).
    expect((await stat(image)).blocks * 512).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    const starts = () => readFile(join(handle.volumePath!, "db", "standin.starts"), "utf8").then((t) => Number(t.trim()));
    await waitFor("first start recorded", async () => ((await starts()) === 1 ? true : undefined));
    await dockerCli(["restart", "-t", "5", handle.containerId]);
    await waitFor("second start", async () => ((await starts()) === 2 ? true : undefined));

    // The provider restarts: a new runner adopts the running container instead of starting a second one.
    const images = new DockerRunner({ allowImages: ["ntx-test-service/standin-node:*"], labels: testRun.labels });
    const restarted = new DockerServiceRunner({ images, stateDir, secretsRoot, network, namePrefix: "ntx-test-service", labels: testRun.labels });
    const adopted = await restarted.start(request);
    expect(adopted.containerId).toBe(handle.containerId);

    // The container is lost (crash, engine wipe): a new one gets the same volume, with the data.
    await dockerCli(["rm", "-f", handle.containerId]);
    const again = await restarted.start(request);
    handles.push(again);
    expect(again.containerId).not.toBe(handle.containerId);
    await waitFor("third start on the same volume", async () => ((await starts()) === 3 ? true : undefined));
  }, 120_000);

  it("restarts a service that dies, per its policy, and stops it cleanly", async () => {
    const request = nodeRequest({ restart: { policy: "on-failure", maxRestarts: 3 }, health: { kind: "command", command: ["test", "-S", "/ipc/node.socket"] } });
    const handle = await runner.start(request);
    handles.push(handle);
    await waitFor("socket health", async () => ((await runner.status(handle, request)).healthy ? true : undefined));
    // A crash (the stand-in exits 70 on SIGUSR2) is a failure: the engine starts it again.
    await dockerCli(["exec", handle.containerId, "sh", "-c", "kill -USR2 1"]).catch(() => undefined);
    const after = await waitFor("restart", async () => { const s = await runner.status(handle, request); return s.restarts >= 1 && s.running ? s : undefined; });
    expect(after.restarts).toBeGreaterThanOrEqual(1);
    // The new process must be up (its socket back) before the stop, or the stop lands on the crashed one (exit 70).
    await waitFor("socket health after the restart", async () => ((await runner.status(handle, request)).healthy ? true : undefined));
    await runner.stop(handle, 10_000);
    const stopped = await runner.status(handle, request);
    expect(stopped.running).toBe(false);
    // SIGTERM reached the node, which removed its socket and exited 0: a clean stop, not a kill.
    expect(stopped.exitCode).toBe(0);
    const logs = await dockerCli(["logs", handle.containerId]);
    expect(logs).toMatch(/standin-node: stopped at slot/);
  }, 120_000);

  it("opens secrets only into a tmpfs outside the state dir, read-only in the container", async () => {
    const request = nodeRequest({ secrets: { dir: "/secrets", names: ["kes.skey"] } });
    await expect(runner.start(request)).rejects.toThrow(/needs secrets kes.skey/);
    const secret = randomBytes(48);
    const handle = await runner.start(request, { "kes.skey": new Uint8Array(secret) });
    handles.push(handle);
    const inside = await dockerCli(["exec", handle.containerId, "sh", "-c", "cat /secrets/kes.skey | od -An -tx1 | tr -d ' \\n'; echo; echo x > /secrets/other 2>&1 || echo READONLY"]);
    expect(inside).toContain(secret.toString("hex"));
    expect(inside).toContain("READONLY");
    const hostDir = join(secretsRoot, request.jobHash.slice(0, 16));
    expect(await mountedAt(hostDir)).toBe(true);
    const fstype = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.split(" ")[4] === hostDir) ?? "";
    expect(fstype).toMatch(/ - tmpfs /);
    expect(await filesHolding(stateDir, secret)).toEqual([]);
    expect((await dockerCli(["logs", handle.containerId])).includes(secret.toString("hex"))).toBe(false);
    await runner.remove(handle);
    expect(await mountedAt(hostDir)).toBe(false);
  }, 120_000);

  it("stops the node cleanly when its lease runs dry, after the notice; starts it on a top-up with its data; removes it all on close", async () => {
    const request = nodeRequest();
    const ledger = new MemoryLeaseLedger({ slotMs: 1_000, start: 1_700_000_000_000 });
    ledger.open(request.jobHash, { deposit: 100n * 60n, ratePerSecond: 100n, endMs: ledger.clock + 86_400_000, noticeMs: 20_000 });
    const phases: string[] = [];
    const health: string[] = [];
    const keeper = new LeaseKeeper({
      settlement: ledger, runner, schedule: { claimIntervalMs: 10_000, minClaim: 10n ** 9n, stopMarginMs: 5_000 }, maxClaimBatch: 10, stopGraceMs: 10_000,
      healthIntervalMs: 0, healthMetrics: ["cardano_node_metrics_connectedPeers_int", "cardano_node_metrics_remainingKESPeriods_int"],
      events: { publish: (e) => { if (e.kind === "job") { phases.push(e.phase); if (e.phase === LeasePhase.Health) health.push(e.message ?? ""); } } },
    });
    const handle = await keeper.add({ request });
    handles.push(handle);
    const starts = () => readFile(join(handle.volumePath!, "db", "standin.starts"), "utf8").then((t) => Number(t.trim()));
    await waitFor("first start", async () => ((await starts()) === 1 ? true : undefined));
    // The provider reports the node's own metrics with the lease's state (what `ntx pool status --job` shows).
    await waitFor("a healthy report", async () => { await keeper.tick(); const h = health.map((m) => JSON.parse(m)).find((x) => x.healthy); return h ?? undefined; });
    const report = health.map((m) => JSON.parse(m)).find((x) => x.healthy);
    expect(report.metrics).toEqual({ cardano_node_metrics_connectedPeers_int: 1, cardano_node_metrics_remainingKESPeriods_int: 0 });
    expect(report.balance).toBe("6000");
    for (let t = 0; t < 60; t += 5) { ledger.clock += 5_000; await keeper.tick(); }
    expect(phases.indexOf(LeasePhase.Notice)).toBeGreaterThan(0);
    expect(phases.indexOf(LeasePhase.Notice)).toBeLessThan(phases.indexOf(LeasePhase.Stopped));
    const stopped = await runner.status(handle, request);
    expect(stopped.running).toBe(false);
    expect(stopped.exitCode).toBe(0);
    expect(ledger.providerPaid).toBeLessThanOrEqual(6_000n);

    ledger.topUp(request.jobHash, 100n * 600n);
    await keeper.tick();
    await waitFor("started again on the same volume", async () => ((await starts()) === 2 ? true : undefined));

    ledger.close(request.jobHash);
    for (let i = 0; i < GONE_AFTER_PASSES; i++) await keeper.tick();
    expect(phases.at(-1)).toBe(LeasePhase.Closed);
    expect(await mountedAt(handle.volumePath!)).toBe(false);
    expect(await dockerCli(["ps", "-aq", "--filter", `label=ntx.job=${request.jobHash}`])).toBe("");
  }, 120_000);
});
