import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { registerPoolCommands } from "../../src/cli/pool.js";
import { encodeCbor } from "../../src/market/cbor.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey } from "../../src/market/cose.js";
import { jobHash as hashOf } from "../../src/market/job-hash.js";
import { JobSpec } from "../../src/market/schemas.js";
import { connectNats, type NatsConnection } from "../../src/nats/connection.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { SecretInbox } from "../../src/provider/nats/secret-inbox.js";
import { SLOTS_PER_KES_PERIOD } from "../../src/pool/kes.js";
import { estimatedTip } from "../../src/pool/status.js";
import { ROLE_PASSWORDS, startNatsServerWithRoles, type NatsServer } from "../helpers/nats.js";

/**
 * `ntx pool` as main.ts registers it: deploy writes a spec the market accepts; status reads
 * a node's metrics over HTTP; rotate-kes refuses key files others can read, warns before KES expiry, and delivers
 * keys the provider opens, over a real nats-server with the shipped permissions.
 */

/** Runs `ntx pool …` in this process through the same commander registration main.ts uses (a child process costs ~10 s of tsx start-up here). */
async function ntx(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { out.push(a.join(" ")); });
  const error = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => { err.push(a.join(" ")); });
  const program = new Command("ntx").exitOverride().configureOutput({ writeErr: (t) => err.push(t), writeOut: (t) => out.push(t) });
  registerPoolCommands(program);
  try {
    await program.parseAsync(["node", "ntx", "pool", ...args]);
  } catch (e) {
    // As main.ts prints it: message and code.
    throw { stderr: [...err, isNtxError(e) ? `ntx: ${e.message} [${e.code}]` : String(e)].join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  return { stdout: out.join("\n"), stderr: err.join("\n") };
}
const fails = (...args: string[]) => ntx(...args).then(() => { throw new Error("expected the command to fail"); }, (e: { stderr: string }) => e);
let dir: string;
let server: Server;
let metricsUrl: string;
let metrics = "";
let jobJson = "{}";
let nats: NatsServer;
let providerNc: NatsConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-test-service-cli-"));
  server = createServer((req, res) => res.end(req.url?.startsWith("/api/jobs/") ? jobJson : metrics));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  metricsUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
  nats = await startNatsServerWithRoles();
  providerNc = await connectNats({ servers: nats.url, user: "provider", pass: ROLE_PASSWORDS.provider });
}, 60_000);

afterAll(async () => {
  await providerNc?.close();
  await nats?.stop();
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("ntx pool", () => {
  it("deploy writes a producer spec the market's schema accepts, and prints its job hash", async () => {
    const out = join(dir, "bp.json");
    const { stdout } = await ntx("deploy", "--network", "preprod", "--role", "block-producer", "--peer", "relay1.example:3001", "--peer", "10.0.0.2:6000", "--out", out, "--json");
    const spec = JobSpec.parse(JSON.parse(await readFile(out, "utf8")));
    expect(JSON.parse(stdout).jobHash).toBe(hashOf(spec));
    expect(spec.service!.secrets!.names).toEqual(["kes.skey", "vrf.skey", "node.cert"]);
    expect((await fails("deploy", "--network", "testnet", "--role", "relay", "--out", out)).stderr).toMatch(/--network/);
    expect((await fails("deploy", "--network", "preprod", "--role", "block-producer", "--out", out)).stderr).toMatch(/at least one relay/);
  }, 120_000);

  it("status reports slot lag, peers and KES periods from the node's metrics, with warnings", async () => {
    const tip = estimatedTip("preprod", Date.now());
    metrics = `cardano_node_metrics_slotNum_int ${tip - 5000}\ncardano_node_metrics_connectedPeers_int 2\ncardano_node_metrics_remainingKESPeriods_int 3\n`;
    const { stdout } = await ntx("status", "--network", "preprod", "--metrics-url", metricsUrl, "--role", "block-producer", "--json");
    const s = JSON.parse(stdout);
    expect(s.lagSlots).toBeGreaterThanOrEqual(5000);
    expect(s.synced).toBe(false);
    expect(s.peers).toBe(2);
    expect(s.kesPeriodsLeft).toBe(3);
    expect(s.warnings.join(" ")).toMatch(/only 3 KES periods left/);
  }, 60_000);

  it("status --job reads the provider's latest health report through the API, with the lease's time left", async () => {
    const tip = estimatedTip("preview", Date.now());
    const report = { running: true, healthy: true, restarts: 0, metrics: { cardano_node_metrics_slotNum_int: tip - 10, cardano_node_metrics_connectedPeers_int: 5 }, balance: "123456", paidUntil: Date.now() + 50 * 3_600_000, stopAt: Date.now() + 48 * 3_600_000 };
    jobJson = JSON.stringify({ events: [{ kind: "started", at: Date.now() - 1000 }, { kind: "running", message: JSON.stringify(report), at: Date.now() }, { kind: "claimed", message: "claimed" }] });
    const job = "cd".repeat(32);
    const api = metricsUrl.replace("/metrics", "");
    const { stdout } = await ntx("status", "--network", "preview", "--job", job, "--api", api);
    expect(stdout).toMatch(/synced\); peers 5/);
    expect(stdout).toMatch(/lease: 123456 base units left, .* \((47|48) h before the node stops\)/);
    jobJson = JSON.stringify({ events: [{ kind: "running", message: "not json" }] });
    expect((await fails("status", "--network", "preview", "--job", job, "--api", api)).stderr).toMatch(/NODE_NO_REPORT/);
    expect((await fails("status", "--network", "preview", "--api", api)).stderr).toMatch(/--job/);
  }, 60_000);

  it("rotate-kes refuses readable key files, warns near expiry, and delivers keys the provider opens", async () => {
    const proofKey = proofKeyFromHex(randomBytes(32).toString("hex"));
    const seed = randomBytes(32);
    const buyerKey = Buffer.from(ed25519RawPublicKey(ed25519PrivateKeyObject(new Uint8Array(seed)))).toString("hex");
    const job = randomBytes(32).toString("hex");
    const received: Record<string, string> = {};
    const inbox = new SecretInbox({
      nc: providerNc,
      proofKey,
      lookup: (h) => (h === job ? { buyerKey, names: ["kes.skey", "vrf.skey", "node.cert"] } : undefined),
      onSecrets: async (_h, files) => { for (const [n, b] of Object.entries(files)) received[n] = Buffer.from(b).toString("hex"); },
    });
    await inbox.start();
    const currentPeriod = Math.floor(estimatedTip("preprod", Date.now()) / SLOTS_PER_KES_PERIOD);
    const opcert = JSON.stringify({ type: "NodeOperationalCertificate", description: "", cborHex: Buffer.from(encodeCbor([[new Uint8Array(32), 1, currentPeriod - 58, new Uint8Array(64)], new Uint8Array(32)])).toString("hex") });
    const files = { kes: join(dir, "kes.skey"), vrf: join(dir, "vrf.skey"), opcert: join(dir, "node.cert"), buyer: join(dir, "buyer.key") };
    const kesBytes = randomBytes(608);
    await writeFile(files.kes, kesBytes, { mode: 0o644 });
    await writeFile(files.vrf, randomBytes(64), { mode: 0o600 });
    await writeFile(files.opcert, opcert, { mode: 0o600 });
    await writeFile(files.buyer, seed.toString("hex"), { mode: 0o600 });
    const natsUrl = nats.url.replace("nats://", `nats://buyer:${ROLE_PASSWORDS.buyer}@`);
    const args = ["rotate-kes", "--provider", proofKey.providerId, "--job", job, "--kes", files.kes, "--vrf", files.vrf, "--opcert", files.opcert, "--buyer-key", files.buyer, "--network", "preprod", "--nats", natsUrl, "--json"];
    expect((await fails(...args)).stderr).toMatch(/readable by others/);
    await chmod(files.kes, 0o600);
    const { stdout, stderr } = await ntx(...args);
    expect(stderr).toMatch(/warning: 4 KES periods left/);
    expect(JSON.parse(stdout)).toEqual({ delivered: true, kesPeriodsLeft: 4 });
    expect(received["kes.skey"]).toBe(kesBytes.toString("hex"));
    expect(stdout + stderr).not.toContain(kesBytes.toString("hex"));
    // The wrong job: the provider refuses, the CLI says so and exits non-zero.
    const wrong = await fails(...args.map((a) => (a === job ? randomBytes(32).toString("hex") : a)));
    expect(wrong.stderr).toMatch(/refused the keys.*SECRETS_UNKNOWN_JOB/);
    inbox.stop();
  }, 120_000);

  it("topup and stop refuse bad options and key files before touching the chain (the chain path: test/e2e/lease-service-devnet.test.ts)", async () => {
    const key = join(dir, "pay.skey");
    await writeFile(key, "x", { mode: 0o600 });
    expect((await fails("topup", "--job", "ab".repeat(32), "-k", key)).stderr).toMatch(/--amount or --days.*CLI_BAD_OPTION/);
    expect((await fails("topup", "--job", "ab".repeat(32), "-k", key, "--amount", "5", "--days", "1")).stderr).toMatch(/CLI_BAD_OPTION/);
    expect((await fails("stop", "--job", "ab".repeat(32), "-k", join(dir, "missing.skey"))).stderr).toMatch(/KEY_FILE_MISSING/);
    expect((await fails("stop", "--job", "ab".repeat(32), "-k", key)).stderr).toMatch(/KEY_/);
  }, 60_000);
});
