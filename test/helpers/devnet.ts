import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { nodeArgs } from "./node-args.js";
import {
  addressOfPrivateKey,
  createChain,
  fetchDevnetInfo,
  newPrivateKey,
  produceDevnetBlock,
  requestDevnetFunds,
  type Chain,
  type DevnetInfo,
  type LucidEvolution,
} from "../../offchain/chain/index.js";
import { startDevnetServer, type DevnetServer } from "../../offchain/devnet/index.js";

/**
 * Starts a real devnet chain server on a free loopback port for a test — in this process, or as a child process
 * (what a restart test needs: a real stop and start with the state on disk) — and stops it. Clients reach it
 * only over HTTP, through the chain interface.
 */
export interface TestDevnet {
  readonly url: string;
  readonly stateFile: string;
  /** Process id of the chain server in child mode (undefined in-process). */
  readonly pid: number | undefined;
  info: DevnetInfo;
  chain(): Chain;
  /** Seals pending transactions into a block now. */
  block(): Promise<void>;
  /** Faucet: lovelace and devnet NTX, confirmed before it returns. */
  fund(address: string, lovelace: bigint, ntx?: bigint): Promise<string>;
  /** Stops the server and starts it again on the same port from its state file. */
  restart(): Promise<void>;
  /** Kills the server without letting it save (SIGKILL; child mode only), then starts it again. */
  crashAndRestart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestDevnetOptions {
  mode?: "in-process" | "child";
  /** 0 = blocks only on demand (default for tests: deterministic); the server's default is 1000. */
  blockTimeMs?: number;
  /** Extra genesis outputs (in-process mode only). */
  genesisOutputs?: Array<{ address: string; lovelace: bigint }>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

export async function startTestDevnet(options: TestDevnetOptions = {}): Promise<TestDevnet> {
  const mode = options.mode ?? "in-process";
  const blockTimeMs = options.blockTimeMs ?? 0;
  const dir = await mkdtemp(join(tmpdir(), "ntx-devnet-"));
  const stateFile = join(dir, "state.json");
  let port = 0;
  let stopCurrent: () => Promise<void> = async () => undefined;
  let killCurrent: () => Promise<void> = async () => undefined;
  let url = "";
  let pid: number | undefined;

  const launch = async () => {
    if (mode === "in-process") {
      const server: DevnetServer = await startDevnetServer({ stateFile, port, blockTimeMs, ...(options.genesisOutputs ? { genesisOutputs: options.genesisOutputs } : {}) });
      port = server.port;
      url = server.url;
      stopCurrent = () => server.close();
    } else {
      const child = spawn(process.execPath, [...nodeArgs(), "--import", "tsx", join(ROOT, "offchain/devnet/standalone.ts"), "--state-file", stateFile, "--port", String(port), "--block-time", String(blockTimeMs), "--exit-with-parent"], {
        cwd: ROOT,
        stdio: ["pipe", "pipe", "pipe"],
      });
      const stderr: string[] = [];
      child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
      const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.once("line", (line) => resolve(JSON.parse(line) as { url: string; port: number }));
        child.once("exit", (code) => reject(new Error(`devnet chain exited with ${code} before it was ready: ${stderr.join("")}`)));
      });
      port = ready.port;
      url = ready.url;
      pid = child.pid;
      stopCurrent = () => stopChild(child, "SIGTERM");
      killCurrent = () => stopChild(child, "SIGKILL");
    }
  };
  await launch();

  const handle: TestDevnet = {
    get url() {
      return url;
    },
    stateFile,
    get pid() {
      return pid;
    },
    info: await fetchDevnetInfo(url),
    chain: () => createChain({ network: "devnet", blockfrostUrl: url, requestTimeoutMs: 20_000 }),
    block: async () => {
      await produceDevnetBlock(url);
    },
    fund: async (address, lovelace, ntx = 0n) => {
      const { txHash } = await requestDevnetFunds(url, { address, lovelace, ntx });
      if (blockTimeMs === 0) await produceDevnetBlock(url);
      await handle.chain().awaitConfirmation(txHash);
      return txHash;
    },
    restart: async () => {
      await stopCurrent();
      await launch();
      handle.info = await fetchDevnetInfo(url);
    },
    crashAndRestart: async () => {
      if (mode !== "child") throw new Error("crashAndRestart needs mode: child");
      await killCurrent();
      await launch();
      handle.info = await fetchDevnetInfo(url);
    },
    stop: async () => {
      await stopCurrent();
      stopCurrent = async () => undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** A party with its own key, chain client and Lucid (on the Blockfrost provider), funded by the faucet. */
export interface DevnetParty {
  key: string;
  address: string;
  chain: Chain;
  lucid: LucidEvolution;
}

export async function fundedParty(devnet: TestDevnet, lovelace: bigint, ntx: bigint): Promise<DevnetParty> {
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  await devnet.fund(address, lovelace, ntx);
  const chain = devnet.chain();
  return { key, address, chain, lucid: await chain.lucid({ privateKey: key }) };
}

async function stopChild(child: ChildProcess, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
