/**
 * A provider process whose jobs run on the no-op runner (nothing is started in Docker; each job "runs" for the
 * milliseconds given), with everything else real: its keys, state file, NATS, the devnet chain, Complete and
 * batched Claim. The fault and load suites start it as a child so it can be killed and paused like a real one.
 * Several configs run several providers (each its own node: keys, state, NATS connection, chain gateway) in one
 * process, so the load suite's 50 providers need not be 50 Node processes on a 2-core machine.
 *   node --import tsx noop-provider.ts <runMs> <config.json>...
 */
import { loadProviderConfig } from "../../../src/provider/config.js";
import { startProviderNode, type ProviderNode } from "../../../src/provider/node.js";
import { NoopRunner } from "../../../src/provider/noop/noop-runner.js";

const [runMs, ...configFiles] = process.argv.slice(2);
const nodes: ProviderNode[] = [];
for (const file of configFiles) {
  const config = await loadProviderConfig({ file });
  const runner = new NoopRunner({ allowImages: config.images, gate: () => new Promise((r) => setTimeout(r, Number(runMs))) });
  nodes.push(
    await startProviderNode({
      config,
      runner,
      onError: (e, job) => process.stderr.write(`[noop-provider${job ? ` ${job.slice(0, 12)}` : ""}] ${e instanceof Error ? e.message : String(e)}\n`),
    }),
  );
}
process.stdout.write(JSON.stringify({ ready: true, providers: nodes.map((n) => n.providerId) }) + "\n");
const stop = () => void Promise.all(nodes.map((n) => n.stop())).finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
