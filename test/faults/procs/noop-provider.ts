/**
 * A provider process whose jobs run on the no-op runner (nothing is started in Docker; each job "runs" for the
 * milliseconds given), with everything else real: its keys, state file, NATS, the devnet chain, Complete and
 * batched Claim. The fault and load suites start it as a child so it can be killed and paused like a real one.
 *   node --import tsx noop-provider.ts <config.json> <runMs>
 */
import { loadProviderConfig } from "../../../src/provider/config.js";
import { startProviderNode } from "../../../src/provider/node.js";
import { NoopRunner } from "../../../src/provider/noop/noop-runner.js";

const [configFile, runMs] = process.argv.slice(2);
const config = await loadProviderConfig({ file: configFile! });
const runner = new NoopRunner({ allowImages: config.images, gate: () => new Promise((r) => setTimeout(r, Number(runMs ?? 1000))) });
const node = await startProviderNode({
  config,
  runner,
  onError: (e, job) => process.stderr.write(`[noop-provider${job ? ` ${job.slice(0, 12)}` : ""}] ${e instanceof Error ? e.message : String(e)}\n`),
});
process.stdout.write(JSON.stringify({ ready: true, providerId: node.providerId, payoutAddress: node.payoutAddress }) + "\n");
const stop = () => void node.stop().finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
