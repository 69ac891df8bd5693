/**
 * Starts a real `nats-server -js` for a test suite, like nats.js's `nst` launcher: a free port, a temp store dir,
 * waits for `/healthz`, and `stop()` kills it and removes the dir. Other areas' suites import this, so it stays
 * free of project imports.
 *
 *   const nats = await startNatsServer();
 *   afterAll(() => nats.stop());
 *   const nc = await connect({ servers: nats.url });
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Extra config text appended to the generated config file (e.g. `authorization { ... }`). */
  config?: string;
  /** Path of a full config file to use instead of the generated one; port/store/monitor flags still apply. */
  configFile?: string;
  /** Reuse a store dir (to restart a server over the same JetStream state); removed on stop unless `keepStore`. */
  storeDir?: string;
  keepStore?: boolean;
  /** Reuse a port (to restart on the same URL). */
  port?: number;
  /** nats-server binary; default `NATS_SERVER_BIN` or `nats-server` on PATH. */
  bin?: string;
  startTimeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  pid: number;
  /** Kills the server (SIGTERM, then SIGKILL after 3 s) and removes the store dir unless `keepStore`. */
  stop(): Promise<void>;
  /** Server stderr/stdout so far: handy in a failing test's message. */
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "ntx-nats-")));
  const port = options.port ?? (await freePort());
  const monitorPort = await freePort();
  let configFile = options.configFile;
  if (!configFile) {
    configFile = join(storeDir, "..", `${storeDir.split("/").pop()}.conf`);
    // max_payload stays at the server default; listen only on loopback (the machine has nothing else).
    await writeFile(configFile, `${options.config ?? ""}\n`);
  }
  const bin = options.bin ?? process.env.NATS_SERVER_BIN ?? "nats-server";
  const args = ["-c", configFile, "-a", "127.0.0.1", "-p", String(port), "-m", String(monitorPort), "-js", "-sd", storeDir];
  let output = "";
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (exited) throw new Error(`nats-server exited during start:\n${output}`);
    try {
      const res = await Promise.race([fetch(`http://127.0.0.1:${monitorPort}/healthz`), spawnError]);
      if (res.ok) break;
    } catch (error) {
      if (error instanceof Error && "code" in error && (error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error(`nats-server not found (${bin}): run scripts/setup.sh`);
      }
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not become healthy on port ${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  const generatedConfig = options.configFile ? undefined : configFile;
  let stopped = false;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    storeDir,
    pid: child.pid ?? -1,
    log: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
        await exitPromise;
        clearTimeout(timer);
      }
      if (!options.keepStore) await rm(storeDir, { recursive: true, force: true });
      if (generatedConfig) await rm(generatedConfig, { force: true });
    },
  };
}

/** Test passwords of the shipped NATS users (config/nats/permissions.conf). */
export const ROLE_PASSWORDS = { provider: "p-secret", buyer: "b-secret", matcher: "m-secret", api: "a-secret" } as const;
export type NatsRole = keyof typeof ROLE_PASSWORDS;

/**
 * A server with the shipped users and permissions, passwords through the environment as in production.
 * (nats-server resolves includes relative to the including file, so the text goes in directly.)
 */
export async function startNatsServerWithRoles(options: Omit<NatsServerOptions, "config" | "configFile"> = {}): Promise<NatsServer> {
  for (const [role, pw] of Object.entries(ROLE_PASSWORDS)) process.env[`NTX_NATS_${role.toUpperCase()}_PASSWORD`] = pw;
  const permissions = await readFile(new URL("../../config/nats/permissions.conf", import.meta.url), "utf8");
  return startNatsServer({ ...options, config: permissions });
}
