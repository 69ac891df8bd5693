/**
 * `npm run bench:api`: what claim builds cost the rest of the API. p50/p99 of `GET /api/jobs/:jobHash` from one
 * client, in the same run:
 *   1. with no builds (the baseline);
 *   2. while other clients keep claim builds running (local script evaluation of several escrows each) on the
 *      API's tx-build worker pool (the default);
 *   3. the same on an API whose builds run on its event loop (`builds.workers: 0`), to show what the pool buys.
 * Real parts: nats-server, the devnet chain, the matcher and the API, as the API tests start them. Writes
 * reports/bench-api.json. Timings depend on the machine and its load (noted); compare the ratios.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { startApiServer, type ApiServer } from "../../src/api/index.js";
import { bidAndMatch, writeClaimableEscrows } from "../../test/api/flows.js";
import { startStack, type Stack } from "../../test/api/stack.js";
import { createTestWallet } from "../../test/helpers/wallet.js";

const SAMPLES = Number(process.env.BENCH_API_SAMPLES ?? 300);
/** A phase stops at SAMPLES reads or after this long, whichever comes first (reads behind event-loop builds are slow). */
const PHASE_SECONDS = Number(process.env.BENCH_API_PHASE_SECONDS ?? 60);
const BUILDERS = Number(process.env.BENCH_API_BUILDERS ?? 4);
const ESCROWS_PER_CLAIM = Number(process.env.BENCH_API_ESCROWS ?? 5);
const UNLIMITED = { clientRequests: 1e9, routeRequests: { default: 1e9, "POST /tx/claim": 1e9 }, builds: { queue: 1_000, timeoutMs: 600_000 } };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sequential reads; a failed one (a reset connection when the server's loop was blocked) is counted, not timed. */
async function latencies(url: string, jobHash: string): Promise<{ p50: number; p99: number; max: number; n: number; failed: number }> {
  const times: number[] = [];
  let failed = 0;
  const until = performance.now() + PHASE_SECONDS * 1000;
  for (let i = 0; i < SAMPLES && performance.now() < until; i++) {
    const start = performance.now();
    try {
      const response = await fetch(`${url}/api/jobs/${jobHash}`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`GET /api/jobs answered ${response.status}`);
      times.push(performance.now() - start);
    } catch {
      failed++;
    }
  }
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(times[times.length - 1]!), n: times.length, failed };
}

/** Keeps BUILDERS claim builds in flight against `api` until stopped; counts the builds that finished. */
function keepBuilding(api: ApiServer, body: object): { stop(): Promise<{ built: number; failed: number }> } {
  let running = true;
  let built = 0;
  let failed = 0;
  const loops = Array.from({ length: BUILDERS }, async () => {
    while (running) {
      try {
        const response = await fetch(`${api.url}/api/tx/claim`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const answer = (await response.json()) as { error?: { code: string; message: string } };
        if (response.status !== 200) throw new Error(`claim build answered ${response.status}: ${answer.error?.code} ${answer.error?.message}`);
        built++;
      } catch (error) {
        failed++;
        if (failed === 1) console.error(`[bench:api] a claim build failed: ${(error as Error).message}`);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { built, failed };
    },
  };
}

const LOAD_AT_START = loadavg().map((x) => Math.round(x * 100) / 100);

async function main(): Promise<void> {
  const stack: Stack = await startStack({ limits: { ...UNLIMITED, builds: { ...UNLIMITED.builds, workers: 1 } } });
  let inline: ApiServer | undefined;
  try {
    await stack.publishOffer();
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 100_000_000n, 5_000_000n);
    const jobHash = await bidAndMatch(stack, buyer);
    const escrows = await writeClaimableEscrows(stack, ESCROWS_PER_CLAIM);
    const provider = await createTestWallet(stack.chain, stack.provider.cardanoKey);
    const body = { address: provider.addressHex, utxos: await provider.api.getUtxos(), escrows };
    inline = await startApiServer({
      chain: stack.chain,
      nats: stack.nc,
      ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName },
      escrow: { referenceScript: stack.referenceScript },
      webDir: null,
      limits: { ...UNLIMITED, builds: { ...UNLIMITED.builds, workers: 0 } },
    });

    // Warm both servers (first build loads Lucid in the worker; first read fills caches).
    for (const api of [stack.api, inline]) {
      await latencies(api.url, jobHash);
      const warm = await fetch(`${api.url}/api/tx/claim`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (warm.status !== 200) throw new Error(`warm-up claim build answered ${warm.status}: ${await warm.text()}`);
    }

    const phase = (name: string) => console.error(`[bench:api] ${name} (load ${loadavg()[0]!.toFixed(2)})`);
    phase("baseline");
    const baseline = await latencies(stack.api.url, jobHash);
    phase("while building on the worker pool");
    const pooled = keepBuilding(stack.api, body);
    const withPool = await latencies(stack.api.url, jobHash);
    const pooledBuilds = await pooled.stop();
    phase("while building on the event loop");
    const onLoop = keepBuilding(inline, body);
    const withInline = await latencies(inline.url, jobHash);
    const inlineBuilds = await onLoop.stop();

    const report = {
      bench: "api",
      what: `p50/p99 ms of GET /api/jobs/:jobHash (up to ${SAMPLES} sequential requests or ${PHASE_SECONDS} s per phase), with ${BUILDERS} clients keeping ${ESCROWS_PER_CLAIM}-escrow claim builds in flight`,
      machine: { loadavgAtStart: LOAD_AT_START, cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      baseline,
      whileBuildingOnWorkerPool: { ...withPool, builds: pooledBuilds, p99VsBaseline: Math.round((withPool.p99 / baseline.p99) * 100) / 100 },
      whileBuildingOnEventLoop: { ...withInline, builds: inlineBuilds, p99VsBaseline: Math.round((withInline.p99 / baseline.p99) * 100) / 100 },
    };
    console.log(JSON.stringify(report, null, 2));
    await mkdir(new URL("../../reports/", import.meta.url), { recursive: true });
    await writeFile(new URL("../../reports/bench-api.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await inline?.close();
    await stack.close();
  }
}

await main();
process.exit(0);
