/**
 * A provider process whose jobs run on the no-op runner (nothing is started in Docker; each job "runs" for the
 * milliseconds given), with everything else real: its keys, state file, NATS, the devnet chain, Complete and
 * batched Claim. The fault and load suites start it as a child so it can be killed and paused like a real one.
 * Several configs run several providers (each its own node: keys, state, NATS connection, chain gateway) in one
 * process, so the load suite's 50 providers need not be 50 Node processes on a 2-core machine.
 *   node --import tsx noop-provider.ts <runMs> <config.json>...
 */
import { createChain, loadChainConfig } from "../../../offchain/chain/index.js";
import { EscrowReads, escrowScriptFor, ntxAsset } from "../../../offchain/index.js";
import { loadProviderConfig } from "../../../src/provider/config.js";
import { createTxBuildPool } from "../../../src/runtime/tx-pool/pool.js";
import { escrowScanReuseMs, startProviderNode, type ProviderNode } from "../../../src/provider/node.js";
import { NoopRunner } from "../../../src/provider/noop/noop-runner.js";

const [runMs, ...configFiles] = process.argv.slice(2);
const nodes: ProviderNode[] = [];
const configs = await Promise.all(configFiles.map((file) => loadProviderConfig({ file })));
const first = configs[0]!;
// They share one chain client, build pool and escrow read: only providers of the same chain and escrow can.
const mismatched = configs.find((c) => c.network !== first.network || c.chainUrl !== first.chainUrl || c.escrow?.referenceScript !== first.escrow?.referenceScript || JSON.stringify(c.escrow?.ntx) !== JSON.stringify(first.escrow?.ntx));
if (mismatched) throw new Error(`noop-provider: every config of one process must name the same network, chain and escrow (${mismatched.stateDir} does not)`);
const chain = createChain(loadChainConfig(process.env, { network: first.network, ...(first.chainUrl ? { blockfrostUrl: first.chainUrl } : {}) }));
// One build pool for the process's providers (NTX_NOOP_BUILD_THREADS threads, default 2): one thread per provider
// would be tens of Lucid copies on a 2-core machine.
const txBuilds = createTxBuildPool(chain, {
  workers: Number(process.env.NTX_NOOP_BUILD_THREADS ?? 2),
  queue: configs.reduce((n, c) => n + c.limits.maxConcurrentJobs + 2, 0),
  timeoutMs: first.limits.claimBuildTimeoutMs,
});
// One read of the escrow address a moment for all of them: each provider reading and decoding every escrow on its
// own poll made the reads O(providers × open escrows) a second, the most of this process's CPU.
const lucid = await chain.lucid();
const escrowReads = new EscrowReads({ lucid: async () => lucid }, escrowScriptFor(lucid, ntxAsset(first.network, first.escrow!.ntx)), escrowScanReuseMs(first));
for (const config of configs) {
  const runner = new NoopRunner({ allowImages: config.images, gate: () => new Promise((r) => setTimeout(r, Number(runMs))) });
  nodes.push(
    await startProviderNode({
      config,
      runner,
      txBuilds,
      escrowReads,
      onError: (e, job) => process.stderr.write(`[noop-provider${job ? ` ${job.slice(0, 12)}` : ""}] ${e instanceof Error ? e.message : String(e)}\n`),
    }),
  );
}
process.stdout.write(JSON.stringify({ ready: true, providers: nodes.map((n) => n.providerId) }) + "\n");
// The pool closes beside the nodes: a build in flight ends (claimed again on the next start) instead of holding the stop.
const stop = () => void Promise.all([txBuilds.close(), ...nodes.map((n) => n.stop())]).finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
