import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  expect(response.ok, `${url} → ${response.status}`).toBe(true);
  return (await response.json()) as T;
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("npm run devnet (ntx up)", () => {
  it("brings up chain, NATS, matcher, provider, API and page; stops on Ctrl-C; resumes from its folder", async () => {
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

      expect(await stop(first)).toBe(0);
      await expect(fetch(`${first.apiUrl}/api/health`)).rejects.toThrow();

      const second = await startUp(dir, ports);
      expect(second.output()).not.toContain("deploying the escrow reference script");
      expect(await readFile(join(dir, "deployment.json"), "utf8")).toBe(deployment);
      const heightAfter = (await json<{ tip: { height: number } }>(`${second.chainUrl}/devnet/info`)).tip.height;
      expect(heightAfter).toBeGreaterThanOrEqual(heightBefore);
      expect(await stop(second)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 400_000);
});
