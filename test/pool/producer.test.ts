import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobHash as hashOf } from "../../src/market/job-hash.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "../../src/market/cose.js";
import { connectNats, type NatsConnection } from "../../src/nats/connection.js";
import { DockerRunner } from "../../src/provider/docker/docker-runner.js";
import { mountedAt } from "../../src/provider/docker/host-mounts.js";
import { DockerServiceRunner } from "../../src/provider/docker/service-runner.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { deliverSealed, SecretInbox } from "../../src/provider/nats/secret-inbox.js";
import { LeaseKeeper } from "../../src/provider/service/lease-keeper.js";
import { ServiceHost } from "../../src/provider/service/service-host.js";
import type { ServiceRequestInput } from "../../src/provider/service/types.js";
import { PoolRole } from "../../src/pool/node-config.js";
import { sealToProvider } from "../../src/pool/seal.js";
import { renderPoolSpec } from "../../src/pool/template.js";
import { dockerCli, dockerTestRun, ensureDocker } from "../helpers/docker.js";
import { ROLE_PASSWORDS, startNatsServerWithRoles, type NatsServer } from "../helpers/nats.js";
import { MemoryLeaseLedger } from "../provider/memory-lease-ledger.js";
import { filesHolding } from "../provider/files-holding.js";

/**
 * A block producer from the template, on the real engine with the stand-in node, its keys sealed by the operator's
 * side and delivered over a real nats-server with the shipped role permissions: the node reads them from a
 * read-only tmpfs; neither the provider's state folder (which keeps the sealed bundle) nor its log nor the
 * container's log holds the key bytes; a stranger's bundle is refused; a KES rotation reaches the running node.
 */

const exec = promisify(execFile);
const STANDIN = "ntx-test-service/standin-node:1";
const testRun = dockerTestRun();
let nats: NatsServer;
let providerNc: NatsConnection;
let buyerNc: NatsConnection;
let stateDir: string;
let secretsRoot: string;
let runner: DockerServiceRunner;
const inboxes: SecretInbox[] = [];

const proofKey = proofKeyFromHex(randomBytes(32).toString("hex"));
const buyerSeed = new Uint8Array(randomBytes(32));
const buyerKey = Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(buyerSeed))).toString("hex");

beforeAll(async () => {
  await ensureDocker();
  await exec("bash", ["scripts/standin-node-image.sh", STANDIN], { timeout: 120_000 });
  nats = await startNatsServerWithRoles();
  providerNc = await connectNats({ servers: nats.url, user: "provider", pass: ROLE_PASSWORDS.provider });
  buyerNc = await connectNats({ servers: nats.url, user: "buyer", pass: ROLE_PASSWORDS.buyer });
  stateDir = await mkdtemp(join(tmpdir(), "ntx-test-service-pool-"));
  secretsRoot = await mkdtemp(join(tmpdir(), "ntx-test-service-poolsec-"));
  const images = new DockerRunner({ allowImages: ["ntx-test-service/standin-node:*"], labels: testRun.labels });
  runner = new DockerServiceRunner({ images, stateDir, secretsRoot, network: `ntx-test-service-pool-${testRun.id}`, namePrefix: "ntx-test-service", labels: testRun.labels });
}, 180_000);

afterAll(async () => {
  for (const inbox of inboxes) inbox.stop();
  await providerNc?.close();
  await buyerNc?.close();
  await nats?.stop();
  for (const h of await runner.list().catch(() => [])) await runner.remove(h).catch(() => undefined);
  await testRun.cleanup();
  await runner.removeNetwork().catch(() => undefined);
  const table = await readFile("/proc/self/mountinfo", "utf8");
  for (const point of table.split("\n").map((l) => l.split(" ")[4] ?? "").filter((p) => p.startsWith(`${stateDir}/`) || p.startsWith(`${secretsRoot}/`))) await exec("umount", [point]).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
  await rm(secretsRoot, { recursive: true, force: true });
}, 120_000);

describe("block producer with sealed keys", () => {
  it("runs with keys delivered sealed over NATS, never in the clear on the provider's disk or logs, and rotates them", async () => {
    const spec = renderPoolSpec({ network: "preprod", role: PoolRole.BlockProducer, peers: [{ address: "relay1.pool.example", port: 3001 }], image: STANDIN, leaseMs: 86_400_000, resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 1 }, volumeMiB: 32 });
    const jobHash = hashOf(spec);
    const request: ServiceRequestInput = { jobHash, image: spec.image, command: spec.command, env: spec.env, resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64 }, service: spec.service! };
    const ledger = new MemoryLeaseLedger({ slotMs: 1_000, start: Date.now() });
    ledger.open(jobHash, { deposit: 10n ** 9n, ratePerSecond: 1n, endMs: Date.now() + 86_400_000, noticeMs: 60_000 });
    const keeper = new LeaseKeeper({ settlement: ledger, runner, schedule: { claimIntervalMs: 3_600_000, minClaim: 10n ** 12n, stopMarginMs: 60_000 }, maxClaimBatch: 10, stopGraceMs: 5_000 });
    const providerLog: string[] = [];
    const inbox = new SecretInbox({
      nc: providerNc,
      proofKey,
      lookup: (h) => (h === jobHash ? { buyerKey, names: spec.service!.secrets!.names } : undefined),
      onSecrets: async (h, files) => {
        providerLog.push(`secrets opened for ${h}: ${Object.keys(files).join(",")}`);
        if (keeper.has(h)) await keeper.updateSecrets(h, files);
        else await keeper.add({ request, secrets: files });
      },
      keepSealed: (h, bundle) => writeFile(join(stateDir, `${h.slice(0, 16)}.sealed.json`), JSON.stringify(bundle), { mode: 0o600 }),
      onError: (code, h) => providerLog.push(`refused ${code} ${h ?? ""}`),
    });
    await inbox.start();
    inboxes.push(inbox);

    const keys = { "kes.skey": new Uint8Array(randomBytes(608)), "vrf.skey": new Uint8Array(randomBytes(64)), "node.cert": new Uint8Array(randomBytes(300)) };
    // A stranger (another buyer key) cannot give this producer keys.
    const forged = sealToProvider({ providerId: proofKey.providerId, jobHash, files: keys, buyerSeed: new Uint8Array(randomBytes(32)) });
    expect(await deliverSealed(buyerNc, proofKey.providerId, forged)).toMatchObject({ ok: false, code: "SEAL_WRONG_SIGNER" });
    expect(keeper.has(jobHash)).toBe(false);

    const bundle = sealToProvider({ providerId: proofKey.providerId, jobHash, files: keys, buyerSeed });
    expect(await deliverSealed(buyerNc, proofKey.providerId, bundle)).toEqual({ ok: true, jobHash });
    const handle = keeper.services()[0]!.handle!;
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const inside = async () => (await dockerCli(["exec", handle.containerId, "sh", "-c", "od -An -tx1 /secrets/kes.skey | tr -d ' \\n'"])).trim();
    expect(await inside()).toBe(hex(keys["kes.skey"]));
    const logs = async () => dockerCli(["logs", handle.containerId]);
    // The node read all three files it was given, and its socket exists.
    const readLines = async () => { const l = await logs(); return /read KES key \/secrets\/kes.skey \(608 bytes\)/.test(l) && /read operational certificate/.test(l) ? l : undefined; };
    for (let i = 0; i < 50 && !(await readLines()); i++) await new Promise((r) => setTimeout(r, 200));
    expect(await readLines()).toBeDefined();
    expect(await dockerCli(["exec", handle.containerId, "sh", "-c", "test -S /ipc/node.socket && echo SOCKET"])).toContain("SOCKET");
    expect(await dockerCli(["exec", handle.containerId, "sh", "-c", "echo x > /secrets/kes.skey 2>&1 || echo READONLY"])).toContain("READONLY");

    // Nowhere in the clear: the state folder (which does hold the sealed bundle), the provider's log, the node's log.
    expect((await filesHolding(stateDir, new Uint8Array(0))).some((f) => f.endsWith(".sealed.json"))).toBe(true);
    for (const bytes of Object.values(keys)) {
      expect(await filesHolding(stateDir, bytes)).toEqual([]);
      expect(providerLog.join("\n").includes(hex(bytes))).toBe(false);
      expect((await logs()).includes(hex(bytes))).toBe(false);
    }
    const secretsDir = join(secretsRoot, jobHash.slice(0, 16));
    expect((await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.split(" ")[4] === secretsDir)).toMatch(/ - tmpfs /);

    // KES rotation: a newer bundle reaches the running node; replaying the older one is refused.
    const rotated = { ...keys, "kes.skey": new Uint8Array(randomBytes(608)), "node.cert": new Uint8Array(randomBytes(300)) };
    const next = sealToProvider({ providerId: proofKey.providerId, jobHash, files: rotated, buyerSeed, sealedAt: bundle.sealedAt + 1 });
    expect(await deliverSealed(buyerNc, proofKey.providerId, next)).toEqual({ ok: true, jobHash });
    const after = keeper.services()[0]!.handle!;
    const now = (await dockerCli(["exec", after.containerId, "sh", "-c", "od -An -tx1 /secrets/kes.skey | tr -d ' \\n'"])).trim();
    expect(now).toBe(hex(rotated["kes.skey"]));
    expect(await deliverSealed(buyerNc, proofKey.providerId, bundle)).toMatchObject({ ok: false, code: "SEAL_STALE" });
    expect(await filesHolding(stateDir, rotated["kes.skey"])).toEqual([]);

    inbox.stop();
    await runner.remove(after);
    expect(await mountedAt(secretsDir)).toBe(false);
  }, 180_000);

  it("a provider restart takes the producer up again: same container, keys reopened from the sealed bundle; a closed lease removes it all", async () => {
    const spec = renderPoolSpec({ network: "preview", role: PoolRole.BlockProducer, peers: [{ address: "relay2.pool.example", port: 3001 }], image: STANDIN, leaseMs: 86_400_000, resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 1 }, volumeMiB: 32 });
    const jobHash = hashOf(spec);
    const request: ServiceRequestInput = { jobHash, image: spec.image, command: spec.command, env: spec.env, resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64 }, service: spec.service! };
    const hostDir = join(stateDir, "host");
    let clock = Date.now();
    const ledger = new MemoryLeaseLedger({ slotMs: 1_000, start: clock });
    const events: string[] = [];
    const makeHost = () => {
      const host = new ServiceHost({ runner, settlement: ledger, stateDir: hostDir, schedule: { claimIntervalMs: 3_600_000, minClaim: 10n ** 12n, stopMarginMs: 60_000 }, maxClaimBatch: 10, clock: () => clock, events: { publish: (e) => { if (e.kind === "job") events.push(`${e.jobHash.slice(0, 4)} ${e.phase}`); } } });
      const inbox = new SecretInbox({ nc: providerNc, proofKey, lookup: (h) => host.lookup(h), onSecrets: (h, f) => host.onSecrets(h, f), keepSealed: (h, b) => host.keepSealed(h, b) });
      return { host, inbox };
    };
    const first = makeHost();
    await first.inbox.start();
    inboxes.push(first.inbox);
    await first.host.accept({ request, buyerKey, lockWindowMs: 600_000 });
    const keys = { "kes.skey": new Uint8Array(randomBytes(608)), "vrf.skey": new Uint8Array(randomBytes(64)), "node.cert": new Uint8Array(randomBytes(300)) };
    expect(await deliverSealed(buyerNc, proofKey.providerId, sealToProvider({ providerId: proofKey.providerId, jobHash, files: keys, buyerSeed }))).toEqual({ ok: true, jobHash });
    // No lease on-chain yet: nothing runs.
    expect(first.host.keeper.has(jobHash)).toBe(false);
    ledger.open(jobHash, { deposit: 10n ** 9n, ratePerSecond: 1n, endMs: clock + 86_400_000, noticeMs: 60_000 });
    await first.host.tick();
    const running = first.host.keeper.services()[0]!.handle!;
    const kesInside = async (id: string) => (await dockerCli(["exec", id, "sh", "-c", "od -An -tx1 /secrets/kes.skey | tr -d ' \\n'"])).trim();
    expect(await kesInside(running.containerId)).toBe(Buffer.from(keys["kes.skey"]).toString("hex"));

    // The provider process restarts (the engine and the container do not).
    first.inbox.stop();
    const second = makeHost();
    await second.host.load();
    for (const bundle of await second.host.sealedBundles()) expect(await second.inbox.handle(bundle)).toEqual({ ok: true, jobHash });
    const adopted = second.host.keeper.services()[0]!.handle!;
    expect(adopted.containerId).toBe(running.containerId);
    expect(await kesInside(adopted.containerId)).toBe(Buffer.from(keys["kes.skey"]).toString("hex"));
    for (const bytes of Object.values(keys)) expect(await filesHolding(hostDir, bytes)).toEqual([]);

    // The buyer closes the lease: stopped at once, removed once the absence is confirmed, and forgotten.
    ledger.close(jobHash);
    for (let i = 0; i < 3; i++) { clock += 1_000; await second.host.tick(); }
    expect(second.host.keeper.has(jobHash)).toBe(false);
    expect(await dockerCli(["ps", "-aq", "--filter", `label=ntx.job=${jobHash}`])).toBe("");
    expect(JSON.parse(await readFile(join(hostDir, "services.json"), "utf8"))).toEqual([]);
    expect((await second.host.sealedBundles()).length).toBe(0);
    expect(events.filter((e) => e.endsWith("lease-closed"))).toHaveLength(1);

    // A job whose lease never opens is released after its lock window.
    const relay = renderPoolSpec({ network: "preview", role: PoolRole.Relay, peers: [], image: STANDIN, leaseMs: 86_400_000, resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 1 }, volumeMiB: 32 });
    const relayHash = hashOf(relay);
    await second.host.accept({ request: { jobHash: relayHash, image: relay.image, command: relay.command, env: relay.env, resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64 }, service: relay.service! }, buyerKey, lockWindowMs: 10_000 });
    clock += 11_000;
    await second.host.tick();
    expect(events).toContain(`${relayHash.slice(0, 4)} released`);
    expect(JSON.parse(await readFile(join(hostDir, "services.json"), "utf8"))).toEqual([]);
  }, 180_000);
});
