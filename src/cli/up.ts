import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod/v4";
import { addressOfPrivateKey, createChain, loadChainConfig, newPrivateKey, requestDevnetFunds } from "../../offchain/chain/index.js";
import { startDevnetServer, type DevnetServer } from "../../offchain/devnet/index.js";
import { NtxError } from "../../offchain/errors.js";
import { buildDeployReferenceScriptTx, escrowScriptFor, submitTx, type NtxAsset } from "../../offchain/index.js";
import { startApiServer, type ApiServer } from "../api/index.js";
import { connectNats, prepareNatsRoles, type NatsRoleName, type NatsRoles } from "../nats/index.js";
import { parseProviderConfig } from "../provider/config.js";
import { generateProofKeyFile, loadPaymentKey, writeSecretFile } from "../provider/keys.js";
import { startProviderNode, type ProviderNode } from "../provider/node.js";
import { runMatcher, type RunningMatcher } from "./matcher.js";
import { parseOptions } from "./options.js";

/**
 * `ntx up`: the whole marketplace on one machine, on the embedded devnet chain. Every part is the real one
 * (devnet chain server, nats-server with JetStream, matcher, a provider running jobs in Docker, the API and the
 * web page); only the chain is local. State lives in one folder, so a second `ntx up` resumes the same chain,
 * keys, escrow deployment and provider jobs.
 */

const UpOptions = z.object({
  dir: z.string().min(1),
  chainPort: z.coerce.number().int().min(0).max(65535),
  natsPort: z.coerce.number().int().min(1).max(65535),
  apiPort: z.coerce.number().int().min(0).max(65535),
  blockTime: z.coerce.number().positive(),
  host: z.string().min(1),
  // (api engineer, #11) listening beyond loopback needs --expose; the devnet faucet, blocks and evaluation stay loopback-only.
  expose: z.boolean().default(false),
  // (cluster engineer, #13) a 3-node JetStream cluster on loopback instead of one nats-server.
  cluster: z.boolean().default(false),
});
type UpOptions = z.infer<typeof UpOptions>;

const Deployment = z.object({ referenceScript: z.string().regex(/^[0-9a-f]{64}#\d+$/), ntx: z.object({ policyId: z.string(), assetName: z.string() }) });

/** How long an orderly stop may take before `ntx up` exits anyway (under the 5 s a person waits). */
const STOP_GRACE_MS = 3_500;

const say = (line: string) => process.stderr.write(`[ntx up] ${line}\n`);

/** What each port of `ntx up` is for, in the words of the option that sets it. */
function portUses(options: UpOptions): Array<{ port: number; what: string }> {
  return [
    { port: options.chainPort, what: "the devnet chain server (--chain-port)" },
    ...natsNodes(options).flatMap((n, _i, all) => {
      // One node needs no name; a cluster's ports say which node wants them.
      const of = all.length > 1 ? ` of ${n.name}` : "";
      return [
        { port: n.port, what: `nats-server${of} (--nats-port${n.index ? ` + ${n.index}` : ""})` },
        { port: n.monitorPort, what: `NATS monitoring${of} (--nats-port ${options.natsPort} + ${4000 + n.index})` },
        ...(n.routePort ? [{ port: n.routePort, what: `NATS cluster routes${of} (--nats-port ${options.natsPort} + ${2000 + n.index})` }] : []),
      ];
    }),
    { port: options.apiPort, what: "the API and web page (--api-port)" },
  ].filter((p) => p.port !== 0);
}

/** Nodes of a `--cluster`: enough for JetStream to keep every stream at 3 replicas and lose any one node. */
export const CLUSTER_NODES = 3;

interface NatsNode {
  index: number;
  name: string;
  port: number;
  monitorPort: number;
  /** Cluster route port (cluster only). */
  routePort?: number;
  storeDir: string;
}

/**
 * Where each nats-server of `ntx up` listens and keeps its JetStream files. One server: --nats-port, monitoring
 * on +4000, store `<dir>/nats`. A cluster: node i on --nats-port + i, monitoring +4000 + i, routes +2000 + i,
 * store `<dir>/nats-cluster/n<i>` (a cluster's stores never mix with a single server's).
 */
function natsNodes(options: UpOptions): NatsNode[] {
  if (!options.cluster) return [{ index: 0, name: "ntx-0", port: options.natsPort, monitorPort: options.natsPort + 4000, storeDir: join(options.dir, "nats") }];
  return Array.from({ length: CLUSTER_NODES }, (_, i) => ({
    index: i,
    name: `ntx-${i}`,
    port: options.natsPort + i,
    monitorPort: options.natsPort + 4000 + i,
    routePort: options.natsPort + 2000 + i,
    storeDir: join(options.dir, "nats-cluster", `n${i}`),
  }));
}

function portFree(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => done(error));
    probe.listen(port, host, () => probe.close(() => done(null)));
  });
}

/** Every port checked before anything starts, so a clash names the port and what wanted it. */
export async function checkPorts(options: UpOptions): Promise<void> {
  const uses = portUses(options);
  for (const [i, use] of uses.entries()) {
    if (use.port > 65535) throw new NtxError("PORT_INVALID", `port ${use.port} for ${use.what} is above 65535: choose a lower --nats-port`);
    const other = uses.slice(0, i).find((u) => u.port === use.port);
    if (other) throw new NtxError("PORT_CLASH", `port ${use.port} is wanted twice: by ${other.what} and by ${use.what}; choose another port for one of them`);
  }
  for (const use of uses) {
    const error = await portFree(options.host, use.port);
    if (!error) continue;
    const why = error.code === "EADDRINUSE" ? "is already in use by another program" : `cannot be opened (${error.code ?? error.message})`;
    throw new NtxError("PORT_IN_USE", `port ${use.port} for ${use.what} ${why} on ${options.host}; stop that program or choose another port`);
  }
}

async function ensureKey(path: string, make: () => Promise<void>): Promise<void> {
  if (!existsSync(path)) await make();
}

interface RunningNats {
  /** Every node's client URL, comma-separated. */
  url: string;
  children: ChildProcess[];
  roles: NatsRoles;
  /** The comma-separated URLs with a role's credentials in each. */
  urlFor(role: NatsRoleName): string;
}

function spawnNatsNode(node: NatsNode, all: NatsNode[], roles: NatsRoles): { child: ChildProcess; failed: Promise<never> } {
  const args = ["-c", roles.configFile, "-a", "127.0.0.1", "-p", String(node.port), "-m", String(node.monitorPort), "-js", "-sd", node.storeDir];
  if (node.routePort) {
    const routes = all.map((n) => `nats://127.0.0.1:${n.routePort}`).join(",");
    args.push("-n", node.name, "--cluster_name", "ntx-local", "--cluster", `nats://127.0.0.1:${node.routePort}`, "--routes", routes);
  }
  const child = spawn(process.env.NATS_SERVER_BIN ?? "nats-server", args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...roles.serverEnv } });
  let output = "";
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const failed = new Promise<never>((_, reject) => {
    child.once("error", (e) => reject(new NtxError("NATS_START_FAILED", `nats-server could not start (${e.message}): run scripts/setup.sh`)));
    child.once("exit", (code) => reject(new NtxError("NATS_START_FAILED", `nats-server ${node.name} exited (${code}); is port ${node.port} taken?\n${output}`)));
  });
  failed.catch(() => undefined);
  return { child, failed };
}

/** Polls `probe` until it holds, nats-server exits, or `timeoutMs` passes. */
async function natsReady(what: string, probe: () => Promise<boolean>, failed: Promise<never>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.race([probe().catch(() => false), failed])) return;
    if (Date.now() > deadline) throw new NtxError("NATS_START_FAILED", `nats-server: ${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startNats(options: UpOptions): Promise<RunningNats> {
  const nodes = natsNodes(options);
  for (const node of nodes) await mkdir(node.storeDir, { recursive: true });
  // Role users with the shipped permissions; passwords generated into the state folder (mode 0600), shared by every node.
  const roles = await prepareNatsRoles(options.dir, writeSecretFile);
  const started = nodes.map((node) => ({ node, ...spawnNatsNode(node, nodes, roles) }));
  const children = started.map((s) => s.child);
  try {
    const anyFailed = Promise.race(started.map((s) => s.failed));
    anyFailed.catch(() => undefined);
    for (const { node } of started) {
      // js-enabled-only: a node of a forming cluster is healthy once JetStream runs, before there is a leader.
      await natsReady(`${node.name} did not become healthy`, () => fetch(`http://127.0.0.1:${node.monitorPort}/healthz?js-enabled-only=true`).then((r) => r.ok), anyFailed, 10_000);
    }
    if (options.cluster) {
      // The streams can be placed only once the nodes have elected a JetStream meta leader.
      const metaLeader = async () => {
        const jsz = (await fetch(`http://127.0.0.1:${nodes[0]!.monitorPort}/jsz`).then((r) => r.json())) as { meta_cluster?: { leader?: string } };
        return Boolean(jsz.meta_cluster?.leader);
      };
      await natsReady("the cluster elected no JetStream meta leader", metaLeader, anyFailed, 30_000);
    }
  } catch (error) {
    for (const child of children) child.kill("SIGKILL");
    throw error;
  }
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  return { url: urls.join(","), children, roles, urlFor: (role) => urls.map((u) => roles.urlFor(role, u)).join(",") };
}

async function buildWebPage(): Promise<string | null> {
  const root = resolve(new URL("../../", import.meta.url).pathname);
  const out = join(root, "dist", "web");
  const sources = join(root, "src", "web");
  if (!existsSync(join(sources, "vite.config.ts"))) return null;
  say("building the web page");
  const child = spawn(join(root, "node_modules", ".bin", "vite"), ["build", "-c", join(sources, "vite.config.ts")], { stdio: ["ignore", "ignore", "inherit"] });
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  if (code !== 0) throw new NtxError("WEB_BUILD_FAILED", "the web page did not build (vite exited non-zero); see above");
  return out;
}

/** Deploys the escrow's reference script once per devnet; later runs reuse it while its UTxO is still there. */
async function ensureDeployment(options: UpOptions, chainUrl: string, ntx: NtxAsset, deployerKey: string): Promise<string> {
  const file = join(options.dir, "deployment.json");
  const chain = createChain(loadChainConfig({}, { network: "devnet", blockfrostUrl: chainUrl }));
  if (existsSync(file)) {
    const saved = Deployment.parse(JSON.parse(await readFile(file, "utf8")));
    const [txHash, index] = saved.referenceScript.split("#") as [string, string];
    const lucid = await chain.lucid({ privateKey: deployerKey });
    const [utxo] = await lucid.utxosByOutRef([{ txHash, outputIndex: Number(index) }]);
    if (utxo?.scriptRef && saved.ntx.policyId === ntx.policyId) return saved.referenceScript;
  }
  say("deploying the escrow reference script");
  const deployer = addressOfPrivateKey(deployerKey, "devnet");
  const funding = await requestDevnetFunds(chainUrl, { address: deployer, lovelace: 200_000_000n, ntx: 0n });
  await chain.awaitConfirmation(funding.txHash);
  const lucid = await chain.lucid({ privateKey: deployerKey });
  const txHash = await submitTx(lucid, await buildDeployReferenceScriptTx(lucid, { script: escrowScriptFor(lucid, ntx) }));
  const referenceScript = `${txHash}#0`;
  await writeFile(file, JSON.stringify({ referenceScript, ntx }, null, 2) + "\n");
  return referenceScript;
}

async function readOrCreatePaymentKey(path: string): Promise<string> {
  await ensureKey(path, () => writeSecretFile(path, newPrivateKey()));
  // The same loader the provider uses: it refuses a key file others can read and checks the key's form.
  return loadPaymentKey(path);
}

export async function up(options: UpOptions): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => say(`while stopping: ${e instanceof Error ? e.message : String(e)}`));
  };
  try {
    await checkPorts(options);
    const keysDir = join(options.dir, "keys");
    await mkdir(keysDir, { recursive: true, mode: 0o700 });

    say(`starting the devnet chain (state in ${join(options.dir, "chain")})`);
    const chainServer: DevnetServer = await startDevnetServer({
      stateFile: join(options.dir, "chain", "state.json"),
      port: options.chainPort,
      host: options.host,
      expose: options.expose,
      blockTimeMs: Math.round(options.blockTime * 1000),
      log: (m) => say(`chain: ${m}`),
    });
    stops.push(() => chainServer.close());
    const info = chainServer.info();
    const ntx: NtxAsset = { policyId: info.ntx.policyId, assetName: info.ntx.assetName };

    say(options.cluster ? `starting a ${CLUSTER_NODES}-node nats-server cluster (JetStream, 3 replicas)` : "starting nats-server (JetStream)");
    const nats = await startNats(options);
    // Never leave nats-server behind, even when this process is made to exit before the orderly stop ends.
    const running = () => nats.children.filter((c) => c.exitCode === null && c.signalCode === null);
    const killNats = () => void running().forEach((c) => c.kill("SIGKILL"));
    process.once("exit", killNats);
    stops.push(async () => {
      const left = running();
      const exited = Promise.all(left.map((c) => new Promise((r) => c.once("exit", r))));
      left.forEach((c) => c.kill("SIGTERM"));
      const timer = setTimeout(killNats, 1_500);
      await exited;
      clearTimeout(timer);
    });

    const deployerKey = await readOrCreatePaymentKey(join(keysDir, "deployer.sk"));
    const referenceScript = await ensureDeployment(options, chainServer.url, ntx, deployerKey);

    say("starting the matcher");
    const matcher: RunningMatcher = await runMatcher({ nats: nats.urlFor("matcher"), durable: "ntx-matcher", confirmWindowMs: 10_000 });
    stops.push(() => matcher.stop());

    const proofKeyFile = join(keysDir, "provider-proof.key");
    await ensureKey(proofKeyFile, async () => void (await generateProofKeyFile(proofKeyFile)));
    const paymentKeyFile = join(keysDir, "provider-payment.sk");
    const providerPaymentKey = await readOrCreatePaymentKey(paymentKeyFile);
    // The provider pays the fees of Complete and Claim, so it needs some devnet ADA.
    await requestDevnetFunds(chainServer.url, { address: addressOfPrivateKey(providerPaymentKey, "devnet"), lovelace: 100_000_000n, ntx: 0n });
    const providerConfigInput = {
      prices: { cpuCoreHour: "1000000", memoryGiBHour: "100000", diskGiBHour: "10000", gpuHour: "10000000" },
      images: ["busybox:1.35.0", process.env.NTX_TEST_IMAGE ?? "ntx-test/busybox:1"],
      keys: { proofKeyFile, paymentKeyFile },
      limits: { maxCpuCores: 2, maxMemoryMiB: 2048 },
      stateDir: join(options.dir, "provider"),
      natsUrl: nats.urlFor("provider"),
      chainUrl: chainServer.url,
      network: "devnet",
      escrow: { referenceScript, ntx },
      pollIntervalMs: 1_000,
    };
    const providerConfig = parseProviderConfig(providerConfigInput);
    // Written out so `ntx provider status|payouts -c <dir>/provider.json` can inspect the devnet's provider.
    const providerConfigFile = join(options.dir, "provider.json");
    // It names the provider's NATS role URL (with its password): owner-only, also when an older file is rewritten.
    await writeFile(providerConfigFile, JSON.stringify(providerConfigInput, null, 2) + "\n", { mode: 0o600 });
    await chmod(providerConfigFile, 0o600);
    say("starting a provider");
    const provider: ProviderNode = await startProviderNode({ config: providerConfig, progress: (m) => say(`provider: ${m}`), onError: (e, job) => say(`provider${job ? ` [${job.slice(0, 12)}]` : ""}: ${e instanceof Error ? e.message : String(e)}`) });
    stops.push(() => provider.stop());

    const webDir = await buildWebPage();
    const apiNc = await connectNats({ servers: nats.urlFor("api"), name: "ntx-api", maxReconnectAttempts: -1 });
    stops.push(() => apiNc.close());
    const [txHash, index] = referenceScript.split("#") as [string, string];
    const api: ApiServer = await startApiServer({
      chain: createChain(loadChainConfig({}, { network: "devnet", blockfrostUrl: chainServer.url })),
      nats: apiNc,
      ntx,
      escrow: { referenceScript: { txHash, outputIndex: Number(index) }, challengeWindowMs: 60_000 },
      port: options.apiPort,
      host: options.host,
      expose: options.expose,
      webDir,
    });
    stops.push(() => api.close());

    process.stdout.write(
      [
        "",
        "ntx-market is up on the devnet:",
        `  web page + API   ${api.url}/   (OpenAPI: ${api.url}/api/openapi.json)`,
        `  devnet chain     ${chainServer.url}   (Blockfrost-compatible)`,
        `  NATS             ${nats.url}${options.cluster ? `   (${CLUSTER_NODES}-node cluster; role passwords in ${join(options.dir, "nats-users.json")})` : ""}`,
        `  devnet NTX       ${info.ntx.unit}`,
        `  provider         ${provider.providerId.slice(0, 16)}…  payouts to ${provider.payoutAddress}`,
        "",
        `Inspect the provider: npx ntx provider status -c ${providerConfigFile}   (or payouts)`,
        "Fund a wallet:     npx ntx devnet faucet <addr_test1…> --url " + chainServer.url,
        "Stop with Ctrl-C; `npm run devnet` again resumes the same chain and keys from " + options.dir,
        "",
      ].join("\n"),
    );
    return stopAll;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export function registerUpCommands(program: Command): void {
  program
    .command("up")
    .description("bring up the whole marketplace locally on the devnet chain: chain, NATS, matcher, a provider, API and web page")
    .option("--dir <dir>", "state folder (chain, NATS store, keys, provider jobs)", process.env.NTX_DEVNET_DIR ?? ".devnet")
    .option("--chain-port <port>", "devnet chain server port", "3010")
    .option("--nats-port <port>", "nats-server port (monitoring on port+4000)", "4222")
    .option("--api-port <port>", "API and web page port", "8080")
    .option("--block-time <seconds>", "seconds between devnet blocks", "1")
    .option("--host <host>", "address the chain and API listen on (beyond loopback only with --expose)", "127.0.0.1")
    .option("--cluster", `run a ${CLUSTER_NODES}-node NATS cluster on loopback (ports --nats-port + 0..${CLUSTER_NODES - 1}, routes + 2000, monitoring + 4000; every stream at 3 replicas)`, false)
    .option("--expose", "mean it: serve the chain and API on a non-loopback --host (the faucet, forced blocks and evaluation stay loopback-only)", false)
    .action(async (raw: Record<string, string | boolean>) => {
      const options = parseOptions(UpOptions, raw);
      const stop = await up({ ...options, dir: resolve(options.dir) });
      await new Promise<void>((done) => {
        process.once("SIGINT", done);
        process.once("SIGTERM", done);
      });
      say("stopping");
      // Ctrl-C must free every port promptly: an orderly stop gets STOP_GRACE_MS, then the process exits anyway
      // (nats-server is killed on exit; a job's container keeps running and the next `ntx up` takes it up again).
      const forced = setTimeout(() => {
        say(`not stopped within ${STOP_GRACE_MS / 1000} s: exiting now`);
        process.exit(0);
      }, STOP_GRACE_MS);
      process.once("SIGINT", () => process.exit(130));
      await stop();
      clearTimeout(forced);
      process.exit(0);
    });
}
