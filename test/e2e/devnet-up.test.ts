import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createChain, loadChainConfig, requestDevnetFunds } from "../../offchain/chain/index.js";
import { signWalletBid, unsignedWalletBid, walletKey } from "../api/bid-helpers.js";
import { http, waitFor } from "../api/stack.js";
import { createTestWallet } from "../helpers/wallet.js";
import { ensureDocker } from "../helpers/docker.js";
import { freePort } from "../helpers/nats.js";

/*
 * The README's first command, `npm run devnet` (= `ntx up`), run for real: every part comes up, the provider's
 * offer reaches the API, the page is served, Ctrl-C stops everything, and a second run resumes the same chain and
 * escrow deployment from the state folder.
 */

const root = new URL("../../", import.meta.url).pathname;
const children: ChildProcess[] = [];

interface Up {
  child: ChildProcess;
  apiUrl: string;
  chainUrl: string;
  output: () => string;
}

async function startUp(dir: string, ports: { chain: number; nats: number; api: number }): Promise<Up> {
  const child = spawn(
    join(root, "node_modules", ".bin", "tsx"),
    [join(root, "src/cli/main.ts"), "up", "--dir", dir, "--chain-port", String(ports.chain), "--nats-port", String(ports.nats), "--api-port", String(ports.api)],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.push(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 150_000;
  while (!/ntx-market is up/.test(output)) {
    if (child.exitCode !== null) throw new Error(`ntx up exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`ntx up did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, apiUrl: `http://127.0.0.1:${ports.api}`, chainUrl: `http://127.0.0.1:${ports.chain}`, output: () => output };
}

async function stop(up: Up): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => up.child.once("exit", (code) => resolve(code)));
  up.child.kill("SIGINT");
  return exited;
}

/** A port whose +4000 neighbour (nats-server's monitoring port) is free too. */
async function natsPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 4000 > 65535) continue;
    const probe = await fetch(`http://127.0.0.1:${port + 4000}/`).then(
      () => true,
      () => false,
    );
    if (!probe) return port;
  }
}

/** Every process below `pid` (tsx → node → nats-server …), from ps. */
async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await promisify(execFile)("ps", ["-e", "-o", "pid=,ppid="]);
  const children = new Map<number, number[]>();
  for (const line of stdout.trim().split("\n")) {
    const [p, pp] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portFree = (port: number) =>
  new Promise<boolean>((done) => {
    const probe = createServer();
    probe.once("error", () => done(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => done(true)));
  });

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  expect(response.ok, `${url} → ${response.status}`).toBe(true);
  return (await response.json()) as T;
}

async function ntx(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(join(root, "node_modules", ".bin", "tsx"), [join(root, "src/cli/main.ts"), ...args], { cwd: root, timeout: 60_000 });
  return stdout;
}

async function ntxFails(args: string[]): Promise<string> {
  const failed = await promisify(execFile)(join(root, "node_modules", ".bin", "tsx"), [join(root, "src/cli/main.ts"), ...args], { cwd: root, timeout: 60_000 }).then(
    () => null,
    (error: { code?: number; stderr?: string }) => error,
  );
  expect(failed?.code).toBe(1);
  return failed!.stderr ?? "";
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("npm run devnet (ntx up)", () => {
  it("brings up chain, NATS, matcher, provider, API and page; Ctrl-C mid-job frees every process and port within 5 s; a restart resumes the job", async () => {
    await ensureDocker();
    const dir = await mkdtemp(join(tmpdir(), "ntx-up-"));
    try {
      const ports = { chain: await freePort(), nats: await natsPort(), api: await freePort() };
      const first = await startUp(dir, ports);

      const health = await json<{ ok: boolean; chain: { ok: boolean; height: number }; nats: { ok: boolean } }>(`${first.apiUrl}/api/health`);
      expect(health).toMatchObject({ ok: true, chain: { ok: true }, nats: { ok: true } });
      // The provider's signed offer went through NATS and the API's verified book.
      const deadline = Date.now() + 30_000;
      let offers: Array<{ providerId: string }> = [];
      while (offers.length === 0 && Date.now() < deadline) {
        offers = (await json<{ offers: Array<{ providerId: string }> }>(`${first.apiUrl}/api/offers`)).offers;
        if (offers.length === 0) await new Promise((r) => setTimeout(r, 250));
      }
      expect(offers).toHaveLength(1);
      expect(first.output()).toContain(offers[0]!.providerId.slice(0, 16));
      const page = await fetch(`${first.apiUrl}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("<!doctype html>");
      const deployment = await readFile(join(dir, "deployment.json"), "utf8");
      const heightBefore = (await json<{ tip: { height: number } }>(`${first.chainUrl}/devnet/info`)).tip.height;

      // A buyer's job runs when Ctrl-C comes: everything `ntx up` started stops and frees its ports within 5 s.
      const chain = createChain(loadChainConfig({}, { network: "devnet", blockfrostUrl: first.chainUrl }));
      const buyer = await createTestWallet(chain);
      await chain.awaitConfirmation((await requestDevnetFunds(first.chainUrl, { address: buyer.address, lovelace: 30_000_000n, ntx: 10_000_000n })).txHash);
      const unsigned = unsignedWalletBid(buyer, await walletKey(buyer), { command: ["sh", "-c", "sleep 12; echo resumed > /out/done.txt"], resources: { cpuCores: 1, memoryMiB: 64, diskGiB: 1 }, maxDurationMs: 120_000 }, { terms: { challengeWindowMs: 60_000 } });
      const { bid, jobHash } = await signWalletBid(first.apiUrl, buyer, unsigned);
      expect((await http(first.apiUrl, "POST", "/api/bids", bid)).status).toBe(202);
      const status = (url: string) => async () => (await http(url, "GET", `/api/jobs/${jobHash}/status`)).body as { phase: string; lockable: boolean; resultHash: string | null };
      await waitFor("the provider's confirmation", async () => (await status(first.apiUrl)()).lockable);
      const lock = await http(first.apiUrl, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash });
      expect(lock.status, JSON.stringify(lock.body)).toBe(200);
      const submitted = await http(first.apiUrl, "POST", "/api/tx/submit", { tx: lock.body.tx, witnessSet: await buyer.api.signTx(lock.body.tx, true) });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      await waitFor("the job running", async () => (await status(first.apiUrl)()).phase === "running", 90_000);

      // The devnet's provider is inspectable from a terminal through the config ntx up wrote to its folder.
      const providerStatus = JSON.parse(await ntx(["provider", "status", "-c", join(dir, "provider.json"), "--json"])) as { providerId: string; jobs: Array<{ jobHash: string }> };
      expect(providerStatus.providerId).toBe(offers[0]!.providerId);
      // It carries the provider's NATS role password: readable by its owner only.
      expect((await stat(join(dir, "provider.json"))).mode & 0o777).toBe(0o600);
      expect(providerStatus.jobs.map((j) => j.jobHash)).toContain(jobHash);

      const pids = await descendants(first.child.pid!);
      expect(pids.length).toBeGreaterThan(0);
      const allPorts = [ports.chain, ports.nats, ports.nats + 4000, ports.api];
      const exited = new Promise<number | null>((resolve) => first.child.once("exit", (code) => resolve(code)));
      const stoppedAt = Date.now();
      first.child.kill("SIGINT");
      // Ctrl-C's promise: within 5 s no process of ntx up is left and every port it held is free again.
      const gone = await waitFor(
        "every process and port of ntx up gone",
        async () => {
          if (pids.some(alive) || first.child.exitCode === null) return false;
          return (await Promise.all(allPorts.map(portFree))).every(Boolean);
        },
        5_000,
      ).then(() => Date.now() - stoppedAt);
      expect(gone).toBeLessThanOrEqual(5_000);
      expect(await exited).toBe(0);
      await expect(fetch(`${first.apiUrl}/api/health`)).rejects.toThrow();
      const second = await startUp(dir, ports);
      expect(second.output()).not.toContain("deploying the escrow reference script");
      expect(await readFile(join(dir, "deployment.json"), "utf8")).toBe(deployment);
      const heightAfter = (await json<{ tip: { height: number } }>(`${second.chainUrl}/devnet/info`)).tip.height;
      expect(heightAfter).toBeGreaterThanOrEqual(heightBefore);
      // The restarted provider takes the running job up again and completes it on-chain.
      await waitFor("the job completed after the restart", async () => (await status(second.apiUrl)()).phase === "completed", 180_000);
      expect((await status(second.apiUrl)()).resultHash).toMatch(/^[0-9a-f]{64}$/);
      expect(await stop(second)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it("names the clashing port before starting anything, and answers --help without running setup", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ntx-up-clash-"));
    const blocker = createServer();
    try {
      const nats = await natsPort();
      // NATS monitoring takes --nats-port + 4000: the API asked for that very port.
      const twice = await ntxFails(["up", "--dir", dir, "--chain-port", "0", "--nats-port", String(nats), "--api-port", String(nats + 4000)]);
      expect(twice).toContain(`port ${nats + 4000} is wanted twice: by NATS monitoring (--nats-port ${nats} + 4000) and by the API and web page (--api-port)`);
      // A port another program holds.
      const taken = await new Promise<number>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as { port: number }).port)));
      const busy = await ntxFails(["up", "--dir", dir, "--chain-port", "0", "--nats-port", String(nats), "--api-port", String(taken)]);
      expect(busy).toContain(`port ${taken} for the API and web page (--api-port) is already in use by another program`);
      expect(busy).not.toMatch(/EADDRINUSE|API_START_FAILED/);

      // `npm run devnet -- --help` prints the options; setup never runs: every tool it would call is a tripwire.
      const trap = join(dir, "trap");
      await mkdir(trap);
      for (const tool of ["npm", "apt-get", "dockerd", "docker", "nats-server", "chromium"]) {
        await writeFile(join(trap, tool), `#!/bin/sh\necho ${tool} >> ${join(dir, "tripped")}\nexit 1\n`, { mode: 0o755 });
      }
      const { stdout } = await promisify(execFile)("bash", [join(root, "scripts/devnet.sh"), "--help"], { cwd: root, timeout: 60_000, env: { ...process.env, PATH: `${trap}:${process.env.PATH}` } });
      expect(stdout).toContain("--nats-port <port>");
      expect(existsSync(join(dir, "tripped"))).toBe(false);
    } finally {
      blocker.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
