/**
 * `npm run bench:claim`: how long the provider daemon's event loop stalls while it claims a batch, with the claim
 * built on the daemon's own thread (as before issue #14) and on its tx-build thread (as `ntx provider start` does
 * now), beside the same process idling for as long, all in one run. Each claim is the gateway's whole path: read
 * the escrows, build (Lucid, local script evaluation), sign, submit to a devnet chain server in its own process
 * (which evaluates every script again), await the block. Escrows per claim: BENCH_CLAIM_ESCROWS (default 40).
 * Prints JSON (also reports/bench-claim.json). Timings depend on this shared machine: compare within the run.
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { toObserved } from "../../src/provider/chain/escrow-gateway.js";
import { parseProviderConfig } from "../../src/provider/config.js";
import { openChainGateway } from "../../src/provider/node.js";
import { startTestDevnet } from "../../test/helpers/devnet.js";
import { devnetClaimWorld, payClaimableEscrows, type DevnetClaimWorld } from "../../test/helpers/devnet-escrows.js";

const ESCROWS = Number(process.env.BENCH_CLAIM_ESCROWS ?? 40);
const progress = (message: string) => process.stderr.write(`[bench:claim] ${message}\n`);

interface Lag {
  ms: number;
  maxLagMs: number;
  p99LagMs: number;
}

async function withLag(work: () => Promise<unknown>): Promise<Lag> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  delay.disable();
  const round = (x: number) => Math.round(x * 10) / 10;
  return { ms: Math.round(ms), maxLagMs: round(delay.max / 1e6), p99LagMs: round(delay.percentile(99) / 1e6) };
}

function config(w: DevnetClaimWorld, chainUrl: string) {
  return parseProviderConfig({
    prices: { cpuCoreHour: "1", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" },
    images: ["ntx-bench/none:1"],
    keys: { proofKeyFile: "/nonexistent", paymentKeyFile: "/nonexistent" },
    limits: { maxCpuCores: 1, maxMemoryMiB: 64, claimBuildTimeoutMs: 1_800_000 },
    network: "devnet",
    chainUrl,
    escrow: { referenceScript: `${w.deployTxHash}#0`, ntx: { policyId: w.deployment.script.ntx.policyId, assetName: w.deployment.script.ntx.assetName } },
  });
}

async function claimOnce(w: DevnetClaimWorld, chainUrl: string, devnet: Awaited<ReturnType<typeof startTestDevnet>>, offThread: boolean): Promise<Lag> {
  const escrows = await payClaimableEscrows(devnet, w, ESCROWS);
  const { gateway, close } = await openChainGateway(config(w, chainUrl), w.key, {}, { claimsOffThread: offThread });
  try {
    // Warm the build thread and this thread's Lucid alike: a claim of one escrow first, not measured.
    const [first, ...rest] = escrows;
    await gateway.submitClaim([toObserved(first!, 0n)]);
    return await withLag(() => gateway.submitClaim(rest.map((e) => toObserved(e, 0n))));
  } finally {
    await close();
  }
}

async function main() {
  const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const devnet = await startTestDevnet({ mode: "child", blockTimeMs: 1000 });
  try {
    const w = await devnetClaimWorld(devnet, { lovelace: 3_000_000_000n, requestTimeoutMs: 1_800_000 });
    progress(`claim of ${ESCROWS - 1} escrows built on the daemon's thread`);
    const inline = await claimOnce(w, devnet.url, devnet, false);
    progress(`claim of ${ESCROWS - 1} escrows built on the tx-build thread`);
    const pooled = await claimOnce(w, devnet.url, devnet, true);
    progress("idle baseline");
    const idle = await withLag(() => new Promise((r) => setTimeout(r, Math.min(pooled.ms, 30_000))));
    const report = {
      bench: "claim",
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgAtStart: load, loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version },
      escrowsPerClaim: ESCROWS - 1,
      claimOnDaemonThread: inline,
      claimOnBuildThread: pooled,
      idle,
      maxLagRatioDaemonThreadToBuildThread: Math.round((inline.maxLagMs / Math.max(pooled.maxLagMs, 0.1)) * 10) / 10,
      maxLagRatioBuildThreadToIdle: Math.round((pooled.maxLagMs / Math.max(idle.maxLagMs, 0.1)) * 10) / 10,
    };
    const json = JSON.stringify(report, null, 2);
    console.log(json);
    await mkdir("reports", { recursive: true });
    await writeFile("reports/bench-claim.json", `${json}\n`);
  } finally {
    await devnet.stop();
  }
}

await main();
