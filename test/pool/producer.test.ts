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
    inbox.start();

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
});
