/**
 * The whole product as separate processes, for the fault and load suites: a devnet chain server (child, state on
 * disk), one nats-server (JetStream, store kept across kills), matchers (`ntx matcher`), providers (`ntx provider
 * start` on Docker through a killable socket proxy, or the no-op runner), and the API. Every part can be killed,
 * paused and started again; the suites read what happened from outside (raw NATS, the chain).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { addressOfPrivateKey, newPrivateKey, type Chain } from "../../offchain/chain/index.js";
import { buildDeployReferenceScriptTx, escrowScriptFor, submitTx, type EscrowScript } from "../../offchain/index.js";
import { writeSecretFile } from "../../src/provider/keys.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { dockerCli, ensureDocker } from "../helpers/docker.js";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats.js";
import { alive, nodeProc, rssMiBOf, until, type Proc } from "./procs.js";

const ROOT = new URL("../../", import.meta.url).pathname;
export const JOB_IMAGE = "ntx-test/busybox:1";
/** 1 NTX base unit per core-millisecond: a job's price is its maxDurationMs × cores. */
const CORE_HOUR_PRICE = "3600000";

export interface StackOptions {
  matchers: number;
  noopProviders: number;
  /** Providers running jobs in Docker (the shared engine) through a socket proxy the suite can kill. */
  dockerProviders: number;
  /** How long a no-op job "runs". */
  noopRunMs: number;
  /** Jobs each provider runs at once (its offer's cores). */
  slotsPerProvider: number;
  confirmWindowMs: number;
  offerIntervalMs?: number;
  pollIntervalMs?: number;
  /** No-op providers per process (default 1: each its own process). */
  noopPerProcess?: number;
  /** Matcher verification threads per matcher (0 = on the event loop). */
  matcherWorkers?: number;
}

export interface ProviderProc extends Proc {
  providerId: string;
  payoutAddress: string;
  kind: "noop" | "docker";
  /**
   * Its own region: a bid naming it goes to this provider only. Bids that name no region go to any provider, the
   * cheapest first and, prices equal, the one a matcher saw first; so without such a bid a given provider may get
   * no job for minutes while the ones ahead of it have room.
   */
  region: string;
}

export interface FaultStack {
  dir: string;
  devnet: TestDevnet;
  chain: Chain;
  script: EscrowScript;
  referenceScript: { txHash: string; outputIndex: number };
  ntxUnit: string;
  nats: { url: string; pid(): number; kill(): Promise<void>; start(): Promise<void> };
  matchers: Proc[];
  providers: ProviderProc[];
  api: Proc & { url: string };
  dockerProxy: Proc | null;
  /** Memory of every process of the product, MiB. */
  memory(): Record<string, number>;
  close(): Promise<void>;
}

export async function startFaultStack(options: StackOptions): Promise<FaultStack> {
  const dir = await mkdtemp(join(tmpdir(), "ntx-test-faults-"));
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (options.dockerProviders > 0) await ensureDocker();
    const devnet = await startTestDevnet({ mode: "child", blockTimeMs: 1000 });
    cleanups.push(() => devnet.stop());
    const chain = devnet.chain();

    // One nats-server on a fixed port whose store outlives a kill, so "restart" is the same server coming back.
    const natsStore = join(dir, "nats");
    const natsPort = await freePort();
    let natsServer: NatsServer = await startNatsServer({ port: natsPort, storeDir: natsStore, keepStore: true });
    const natsUrl = natsServer.url;
    const nats = {
      url: natsUrl,
      pid: () => natsServer.pid,
      async kill() {
        const pid = natsServer.pid;
        if (alive(pid)) process.kill(pid, "SIGKILL");
        await until("nats-server gone", () => !alive(pid), 10_000, 50);
        await natsServer.stop();
      },
      async start() {
        natsServer = await startNatsServer({ port: natsPort, storeDir: natsStore, keepStore: true, startTimeoutMs: 30_000 });
      },
    };
    cleanups.push(async () => {
      await natsServer.stop();
    });

    // The escrow's reference scripts, deployed once.
    const ntx = { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName };
    const deployerKey = newPrivateKey();
    await devnet.fund(addressOfPrivateKey(deployerKey, "devnet"), 200_000_000n);
    const deployer = await chain.lucid({ privateKey: deployerKey });
    const script = escrowScriptFor(deployer, ntx);
    const deployHash = await submitTx(deployer, await buildDeployReferenceScriptTx(deployer, { script }));
    const referenceScript = { txHash: deployHash, outputIndex: 0 };

    const matchers: Proc[] = [];
    for (let i = 0; i < options.matchers; i++) {
      const m = nodeProc({
        name: `matcher-${i + 1}`,
        args: [join(ROOT, "src/cli/main.ts"), "matcher", "--nats", natsUrl, "--confirm-window", String(options.confirmWindowMs), "--workers", String(options.matcherWorkers ?? 1)],
        readyWhen: /"matcher":/,
      });
      matchers.push(m);
      cleanups.push(() => m.kill());
    }
    await Promise.all(matchers.map((m) => m.start()));

    let dockerProxy: Proc | null = null;
    const proxySocket = join(dir, "docker.sock");
    if (options.dockerProviders > 0) {
      dockerProxy = nodeProc({ name: "docker-socket-proxy", args: [join(ROOT, "test/faults/procs/docker-proxy.ts"), proxySocket] });
      cleanups.push(() => dockerProxy!.kill());
      await dockerProxy.start();
    }

    const providers: ProviderProc[] = [];
    const procs: Proc[] = [];
    const groupArgs = new Map<Proc, string[]>();
    const perProcess = options.noopPerProcess ?? 1;
    const total = options.noopProviders + options.dockerProviders;
    // Fund every provider in a few faucet calls' worth of time: they pay the fees of Complete and Claim.
    const keys = Array.from({ length: total }, () => ({ payment: newPrivateKey(), proof: Wallet.createRandom() }));
    for (let i = 0; i < keys.length; i += 10) {
      await Promise.all(keys.slice(i, i + 10).map((k) => devnet.fund(addressOfPrivateKey(k.payment, "devnet"), 100_000_000n)));
    }
    for (let i = 0; i < total; i++) {
      const kind = i < options.dockerProviders ? ("docker" as const) : ("noop" as const);
      const pdir = join(dir, `provider-${i + 1}`);
      const region = `faults-${i + 1}`;
      const { payment, proof } = keys[i]!;
      await mkdir(pdir, { recursive: true, mode: 0o700 });
      await writeSecretFile(join(pdir, "proof.key"), proof.privateKey);
      await writeSecretFile(join(pdir, "payment.key"), payment);
      const configFile = join(pdir, "provider.json");
      await writeFile(
        configFile,
        JSON.stringify({
          regions: [region],
          prices: { cpuCoreHour: CORE_HOUR_PRICE, memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" },
          images: ["ntx-test/busybox:*"],
          keys: { proofKeyFile: join(pdir, "proof.key"), paymentKeyFile: join(pdir, "payment.key") },
          limits: { maxCpuCores: options.slotsPerProvider, maxMemoryMiB: 64 * options.slotsPerProvider, maxDiskGiB: 1, maxDurationMs: 60_000, completeMarginMs: 5_000, maxConcurrentJobs: options.slotsPerProvider },
          terms: { lockWindowMs: 120_000, maxChallengeWindowMs: 60_000 },
          stateDir: join(pdir, "state"),
          dockerRoot: dir,
          natsUrl,
          chainUrl: devnet.url,
          network: "devnet",
          escrow: { referenceScript: `${deployHash}#0`, ntx },
          offerIntervalMs: options.offerIntervalMs ?? 2_000,
          pollIntervalMs: options.pollIntervalMs ?? 500,
        }),
      );
      const providerId = proof.signingKey.compressedPublicKey.slice(2);
      const identity = { providerId, payoutAddress: addressOfPrivateKey(payment, "devnet"), kind, region };
      let proc: Proc;
      if (kind === "docker") {
        proc = nodeProc({ name: `provider-${i + 1}-docker`, args: [join(ROOT, "src/cli/main.ts"), "provider", "start", "--config", configFile], env: { DOCKER_HOST: `unix://${proxySocket}` }, readyWhen: /provider [0-9a-f]{66} running/ });
        procs.push(proc);
      } else {
        const n = i - options.dockerProviders;
        if (n % perProcess === 0) {
          const group = Math.floor(n / perProcess) + 1;
          procs.push(nodeProc({ name: perProcess === 1 ? `provider-${i + 1}-noop` : `noop-providers-${group}`, args: [join(ROOT, "test/faults/procs/noop-provider.ts"), String(options.noopRunMs)] }));
        }
        proc = procs[procs.length - 1]!;
        groupArgs.get(proc)?.push(configFile) ?? groupArgs.set(proc, [configFile]);
      }
      // Each provider is its own object over the process that runs it (several share one in the load suite).
      const p = Object.assign(Object.create(proc) as ProviderProc, identity);
      providers.push(p);
      cleanups.push(async () => {
        await proc.kill();
        if (kind === "docker") {
          const ids = (await dockerCli(["ps", "-aq", "--filter", `label=ntx.provider=${providerId.slice(0, 16)}`])).split("\n").filter(Boolean);
          if (ids.length) await dockerCli(["rm", "-f", "-v", ...ids]);
        }
      });
    }
    // Started a few at a time: 50 tsx processes compiling at once would starve a 2-core machine.
    for (const [proc, files] of groupArgs) proc.args.push(...files);
    for (let i = 0; i < procs.length; i += 4) await Promise.all(procs.slice(i, i + 4).map((p) => p.start()));

    const apiPort = await freePort();
    const apiProc = nodeProc({
      name: "api",
      args: [join(ROOT, "test/faults/procs/api.ts"), JSON.stringify({ natsUrl, chainUrl: devnet.url, ntx, referenceScript, port: apiPort, challengeWindowMs: 2_000 })],
    });
    cleanups.push(() => apiProc.kill());
    await apiProc.start();
    const api = Object.assign(apiProc, { url: `http://127.0.0.1:${apiPort}` });

    return {
      dir,
      devnet,
      chain,
      script,
      referenceScript,
      ntxUnit: devnet.info.ntx.unit,
      nats,
      matchers,
      providers,
      api,
      dockerProxy,
      memory() {
        const out: Record<string, number> = { "nats-server": rssMiBOf(nats.pid()) };
        for (const p of [...matchers, ...procs, api, ...(dockerProxy ? [dockerProxy] : [])]) out[p.name] = p.rssMiB();
        out["devnet-chain"] = rssMiBOf(devnet.pid);
        return out;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
