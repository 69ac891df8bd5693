import type { Command } from "commander";
import { ProviderDaemon } from "../provider/daemon.js";
import { loadProviderConfig, type ProviderConfig } from "../provider/config.js";
import { generateProofKeyFile } from "../provider/keys.js";
import { openChainGateway, openLocal, startProviderNode } from "../provider/node.js";
import { JobPhase } from "../provider/state-store.js";

interface CommonOptions {
  config?: string;
  json?: boolean;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

/** A progress line that rewrites itself on a terminal (image load, result upload), plain lines otherwise. */
function progressPrinter(): (message: string) => void {
  let last = "";
  return (message) => {
    if (process.stderr.isTTY && /\d+%$/.test(message) && last.split(":")[0] === message.split(":")[0]) process.stderr.write(`\r${message}`);
    else process.stderr.write(`${last && /\d+%$/.test(last) ? "\n" : ""}${message}\n`);
    last = message;
  };
}

async function config(options: CommonOptions): Promise<ProviderConfig> {
  return loadProviderConfig(options.config ? { file: options.config } : {});
}

export function registerProviderCommands(program: Command): void {
  const provider = program.command("provider").description("rent out this machine: run matched jobs in hardened containers, get paid in NTX");

  provider
    .command("start")
    .description("detect hardware, publish offers, run matched jobs, complete and claim their escrows")
    .option("-c, --config <file>", "provider config (JSON); default $NTX_PROVIDER_CONFIG")
    .option("--load-image <tar...>", "load images from `docker save` tarballs before starting")
    .action(async (options: CommonOptions & { loadImage?: string[] }) => {
      const cfg = await config(options);
      const progress = progressPrinter();
      if (options.loadImage?.length) {
        const { runner } = await openLocal(cfg);
        for (const tar of options.loadImage) {
          await runner.loadImage(tar, (read, total) => progress(`loading ${tar}: ${Math.round((100 * read) / total)}%`));
        }
      }
      const node = await startProviderNode({ config: cfg, progress, onError: (error, jobHash) => say(`${jobHash ? `[${jobHash.slice(0, 12)}] ` : ""}${error instanceof Error ? error.message : String(error)}`) });
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      say("stopping (running jobs continue and are picked up on the next start)");
      await node.stop();
    });

  provider
    .command("status")
    .description("jobs this provider knows and their containers")
    .option("-c, --config <file>", "provider config (JSON)")
    .option("--json", "machine-readable output")
    .action(async (options: CommonOptions) => {
      const cfg = await config(options);
      const { store, runner, proofKey, payoutAddress } = await openLocal(cfg);
      const containers = await runner.list().catch(() => []);
      const jobs = store.all().map((r) => ({
        jobHash: r.jobHash,
        phase: r.observed.phase,
        price: r.desired.price,
        escrow: r.observed.escrow ? `${r.observed.escrow.txHash}#${r.observed.escrow.outputIndex}` : null,
        resultHash: r.observed.result?.resultHash ?? null,
        exitCode: r.observed.result?.exitCode ?? null,
        error: r.observed.error?.code ?? null,
        container: containers.find((c) => c.jobHash === r.jobHash)?.containerId.slice(0, 12) ?? null,
      }));
      if (options.json) {
        console.log(JSON.stringify({ providerId: proofKey.providerId, payoutAddress, jobs, containers: containers.length }, null, 2));
        return;
      }
      console.log(`provider ${proofKey.providerId}\npayouts to ${payoutAddress}\n${containers.length} container(s) on this host`);
      for (const j of jobs) console.log(`${j.jobHash.slice(0, 16)}  ${j.phase.padEnd(15)} ${j.price.padStart(14)} NTX  ${j.error ?? j.resultHash?.slice(0, 16) ?? ""}`);
    });

  provider
    .command("payouts")
    .description("what this provider was paid, from its settled jobs and the chain")
    .option("-c, --config <file>", "provider config (JSON)")
    .option("--json", "machine-readable output")
    .action(async (options: CommonOptions) => {
      const cfg = await config(options);
      const { store, payoutAddress, paymentKey } = await openLocal(cfg);
      const settled = store.all().filter((r) => r.observed.phase === JobPhase.Settled);
      const claimed = settled.filter((r) => r.observed.claimTx);
      const total = claimed.reduce((sum, r) => sum + BigInt(r.desired.price), 0n);
      const pending = store.all().filter((r) => r.observed.phase === JobPhase.Completed);
      let onChain: string | null = null;
      try {
        const { chain, ntxUnit } = await openChainGateway(cfg, paymentKey);
        const payouts = await chain.payoutsTo(payoutAddress, { unit: ntxUnit });
        onChain = payouts.reduce((sum, p) => sum + (p.assets[ntxUnit] ?? 0n), 0n).toString();
      } catch (error) {
        say(`chain not reachable, showing local records only: ${error instanceof Error ? error.message : String(error)}`);
      }
      const report = {
        payoutAddress,
        claimedByThisProvider: total.toString(),
        claims: claimed.map((r) => ({ jobHash: r.jobHash, price: r.desired.price, claimTx: r.observed.claimTx })),
        settledOtherwise: settled.filter((r) => !r.observed.claimTx).map((r) => ({ jobHash: r.jobHash, settledBy: r.observed.settledBy })),
        awaitingClaim: pending.map((r) => ({ jobHash: r.jobHash, price: r.desired.price })),
        ntxReceivedOnChain: onChain,
      };
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(`claimed ${report.claimedByThisProvider} NTX in ${claimed.length} job(s); ${pending.length} awaiting their challenge window`);
        if (onChain !== null) console.log(`NTX received at ${payoutAddress}: ${onChain}`);
      }
    });

  provider
    .command("claim")
    .description("claim every completed escrow whose challenge window is over (batched)")
    .option("-c, --config <file>", "provider config (JSON)")
    .action(async (options: CommonOptions) => {
      const cfg = await config(options);
      const { store, runner, proofKey, payoutAddress, paymentKey } = await openLocal(cfg);
      const { gateway } = await openChainGateway(cfg, paymentKey);
      const daemon = new ProviderDaemon({ runner, gateway, store, proofKey, payoutAddress, onError: (e) => say(e instanceof Error ? e.message : String(e)) });
      const claimed = await daemon.claimDue();
      if (claimed.length === 0) console.log("nothing to claim yet");
      for (const c of claimed) console.log(`claimed ${c.jobHashes.length} escrow(s) in ${c.txHash}`);
    });

  provider
    .command("init-key")
    .description("create a secp256k1 proof key file (mode 0600)")
    .requiredOption("-o, --out <file>", "where to write it (must not exist)")
    .action(async (options: { out: string }) => {
      const key = await generateProofKeyFile(options.out);
      console.log(`provider id ${key.providerId}`);
    });
}
