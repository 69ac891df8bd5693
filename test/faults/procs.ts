/**
 * Real processes the fault and load suites can kill, pause and start again: each part of the product runs as its
 * own child (matcher CLI, provider CLI or no-op provider, API, devnet chain, nats-server, a Docker socket proxy).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { nodeArgs } from "../helpers/node-args.js";

const ROOT = new URL("../../", import.meta.url).pathname;

export interface Proc {
  readonly name: string;
  /** Arguments after `node --import tsx` (may be added to before the first start). */
  readonly args: string[];
  readonly pid: number | undefined;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGKILL (default) or SIGTERM, and wait for the exit. */
  kill(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
  pause(): void;
  resume(): void;
  /** Resident memory in MiB (0 when not running). */
  rssMiB(): number;
  /** The last lines it wrote (stdout and stderr). */
  log(): string;
  /** The first JSON line with `ready: true` it printed on its last start, if any. */
  ready(): Record<string, unknown> | undefined;
}

export interface ProcSpec {
  name: string;
  /** Script or CLI arguments after `node --import tsx`. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Started when this matches its output (or a `{"ready":true…}` line). */
  readyWhen?: RegExp;
  readyTimeoutMs?: number;
}

export function rssMiBOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export function nodeProc(spec: ProcSpec): Proc {
  let child: ChildProcess | undefined;
  let output = "";
  let readyLine: Record<string, unknown> | undefined;
  const proc: Proc = {
    name: spec.name,
    args: spec.args,
    get pid() {
      return child?.pid;
    },
    get running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (proc.running) return;
      readyLine = undefined;
      const c = spawn(process.execPath, [...nodeArgs(), "--import", "tsx", ...spec.args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...spec.env } });
      child = c;
      let seen = "";
      // NTX_FAULTS_LOGS=<dir>: every line each part writes, kept whole (the in-memory tail is only the last 20 kB).
      const logDir = process.env.NTX_FAULTS_LOGS;
      if (logDir) mkdirSync(logDir, { recursive: true });
      const ready = new Promise<void>((resolve, reject) => {
        const look = (d: Buffer) => {
          const text = d.toString();
          if (logDir) appendFileSync(join(logDir, `${spec.name}.log`), text);
          output = (output + text).slice(-20_000);
          seen = (seen + text).slice(-20_000);
          for (const line of seen.split("\n")) {
            if (line.startsWith("{") && line.includes('"ready":true')) {
              try {
                readyLine = JSON.parse(line) as Record<string, unknown>;
                resolve();
              } catch {
                /* a partial line: wait for the rest */
              }
            }
          }
          if (spec.readyWhen?.test(seen)) resolve();
        };
        c.stdout!.on("data", look);
        c.stderr!.on("data", look);
        c.once("exit", (code, signal) => reject(new Error(`${spec.name} exited (${code ?? signal}) before it was ready:\n${output.slice(-3000)}`)));
      });
      // Generous: on a 2-core machine shared with others, one tsx process can take minutes to come up.
      const timeout = spec.readyTimeoutMs ?? 400_000;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([ready, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${spec.name} not ready within ${timeout} ms:\n${output.slice(-3000)}`)), timeout)))]);
      } finally {
        clearTimeout(timer);
      }
    },
    async kill(signal = "SIGKILL") {
      const c = child;
      if (!c || !proc.running) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGCONT");
      c.kill(signal);
      const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    rssMiB: () => (proc.running ? rssMiBOf(child?.pid) : 0),
    log: () => output,
    ready: () => readyLine,
  };
  return proc;
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
