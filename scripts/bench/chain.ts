/**
 * `npm run bench:chain`: the devnet chain server as clients see it, over HTTP through the chain interface.
 *   1. submit→confirmed latency (p50/p99) with the default 1 s block time, and with on-demand blocks;
 *   2. sustained submissions per second from concurrent clients (pre-signed transactions: the server's share),
 *      and end to end (each client builds, signs, submits and awaits, with 1 s blocks).
 * The server runs as its own process (as `ntx devnet chain` does). Writes reports/bench-chain.json.
 * Timings depend on the machine (noted in the report); compare ratios, not absolute numbers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem, type as osType, release } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  addressOfPrivateKey,
  createChain,
  newPrivateKey,
  produceDevnetBlock,
  requestDevnetFunds,
  type Chain,
  type UTxO,
} from "../../offchain/chain/index.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const LATENCY_SAMPLES = Number(process.env.BENCH_CHAIN_LATENCY_SAMPLES ?? 30);
const CLIENTS = Number(process.env.BENCH_CHAIN_CLIENTS ?? 4);
const TXS_PER_CLIENT = Number(process.env.BENCH_CHAIN_TXS_PER_CLIENT ?? 50);
const E2E_SECONDS = Number(process.env.BENCH_CHAIN_E2E_SECONDS ?? 20);

interface Server {
  url: string;
  stateBytes(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(blockTimeMs: number): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), "ntx-bench-chain-"));
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(ROOT, "offchain/devnet/standalone.ts"), "--state-file", join(dir, "state.json"), "--block-time", String(blockTimeMs), "--exit-with-parent"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  // The server logs every accepted transaction; keep only the tail, for when it dies.
  const tail: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => void (tail.push(line) > 50 && tail.shift()));
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM") console.error(`[bench:chain] devnet chain exited (${code ?? signal}):\n${tail.join("\n")}`);
  });
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line) as { url: string }));
    child.once("exit", (code) => reject(new Error(`devnet chain exited with ${code}`)));
  });
  return {
    url,
    stateBytes: async () => (await stat(join(dir, "state.json"))).size,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  const round = (x: number) => Math.round(x * 10) / 10;
  return { samples: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length), min: round(sorted[0] ?? NaN), max: round(sorted.at(-1) ?? NaN) };
}

async function fundedWallet(server: Server, chain: Chain, lovelace: bigint, onDemand: boolean) {
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  const { txHash } = await requestDevnetFunds(server.url, { address, lovelace, ntx: 0n });
  if (onDemand) await produceDevnetBlock(server.url);
  await chain.awaitConfirmation(txHash, { pollMs: 20 });
  return { key, address };
}

/** Sequential transfers from one client; each timed from submit to the confirmation the client observes. */
async function latency(blockTimeMs: number) {
  const server = await startServer(blockTimeMs);
  try {
    const chain = createChain({ network: "devnet", blockfrostUrl: server.url, requestTimeoutMs: 20_000 });
    const onDemand = blockTimeMs === 0;
    const me = await fundedWallet(server, chain, 1_000_000_000n, onDemand);
    const lucid = await chain.lucid({ privateKey: me.key });
    const to = addressOfPrivateKey(newPrivateKey(), "devnet");
    const submitToConfirmed: number[] = [];
    const submitOnly: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const signed = await (await lucid.newTx().pay.ToAddress(to, { lovelace: 1_000_000n + BigInt(i) }).complete()).sign.withWallet().complete();
      // A sequential client would otherwise always submit right after a block; real submissions land anywhere in it.
      if (!onDemand) await new Promise((r) => setTimeout(r, Math.random() * blockTimeMs));
      const t0 = performance.now();
      const hash = await chain.submit(signed.toCBOR());
      submitOnly.push(performance.now() - t0);
      if (onDemand) await produceDevnetBlock(server.url);
      await chain.awaitConfirmation(hash, { pollMs: 20 });
      submitToConfirmed.push(performance.now() - t0);
    }
    return { blockTimeMs, submitToConfirmedMs: stats(submitToConfirmed), submitAcceptedMs: stats(submitOnly) };
  } finally {
    await server.stop();
  }
}

/** Pre-signed transfers (one per distinct UTxO) pushed by concurrent clients as fast as the server accepts them. */
async function throughputPresigned() {
  const server = await startServer(0);
  try {
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const chain = createChain({ network: "devnet", blockfrostUrl: server.url, requestTimeoutMs: 60_000 });
        const wallet = await fundedWallet(server, chain, BigInt(TXS_PER_CLIENT) * 5_000_000n + 100_000_000n, true);
        return { chain, ...wallet, lucid: await chain.lucid({ privateKey: wallet.key }) };
      }),
    );
    // Fan out: each client splits its funds into one UTxO per transaction it will submit.
    const fanouts = await Promise.all(
      clients.map(async (c) => {
        let tx = c.lucid.newTx();
        for (let i = 0; i < TXS_PER_CLIENT; i++) tx = tx.pay.ToAddress(c.address, { lovelace: 4_000_000n });
        return c.chain.submit((await (await tx.complete()).sign.withWallet().complete()).toCBOR());
      }),
    );
    await produceDevnetBlock(server.url);
    await Promise.all(fanouts.map((h, i) => clients[i]!.chain.awaitConfirmation(h, { pollMs: 20 })));
    const sink = addressOfPrivateKey(newPrivateKey(), "devnet");
    const presigned = await Promise.all(
      clients.map(async (c, i) => {
        const utxos = (await c.chain.utxosAt(c.address)).filter((u: UTxO) => u.txHash === fanouts[i] && u.assets.lovelace === 4_000_000n);
        const out: string[] = [];
        for (const u of utxos) out.push((await (await c.lucid.newTx().collectFrom([u]).pay.ToAddress(sink, { lovelace: 2_000_000n }).complete({ coinSelection: false })).sign.withWallet().complete()).toCBOR());
        return out;
      }),
    );
    const total = presigned.reduce((a, l) => a + l.length, 0);
    const perSubmit: number[] = [];
    const t0 = performance.now();
    const hashes = (
      await Promise.all(
        clients.map(async (c, i) => {
          const accepted: string[] = [];
          for (const cbor of presigned[i]!) {
            const s = performance.now();
            accepted.push(await c.chain.submit(cbor));
            perSubmit.push(performance.now() - s);
          }
          return accepted;
        }),
      )
    ).flat();
    const submitSeconds = (performance.now() - t0) / 1000;
    await produceDevnetBlock(server.url);
    await Promise.all(hashes.map((h) => clients[0]!.chain.awaitConfirmation(h, { pollMs: 50 })));
    const confirmedSeconds = (performance.now() - t0) / 1000;
    const stateBytes = await server.stateBytes();
    return {
      stateFileBytes: stateBytes,
      stateBytesPerTx: Math.round(stateBytes / (hashes.length + fanouts.length + 2 * CLIENTS)),
      clients: CLIENTS,
      transactions: total,
      accepted: hashes.length,
      submissionsPerSecond: Math.round((hashes.length / submitSeconds) * 10) / 10,
      confirmedPerSecond: Math.round((hashes.length / confirmedSeconds) * 10) / 10,
      submitMs: stats(perSubmit),
    };
  } finally {
    await server.stop();
  }
}

/** Clients that build, sign, submit and await each transfer, with the default 1 s blocks, for a fixed time. */
async function throughputEndToEnd() {
  const server = await startServer(1000);
  try {
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const chain = createChain({ network: "devnet", blockfrostUrl: server.url, requestTimeoutMs: 60_000 });
        const wallet = await fundedWallet(server, chain, 2_000_000_000n, false);
        return { chain, ...wallet, lucid: await chain.lucid({ privateKey: wallet.key }) };
      }),
    );
    // Each client keeps several transfers in flight: it spends distinct UTxOs made by a fan-out first.
    const inFlight = 8;
    await Promise.all(
      clients.map(async (c) => {
        let tx = c.lucid.newTx();
        for (let i = 0; i < inFlight; i++) tx = tx.pay.ToAddress(c.address, { lovelace: 200_000_000n });
        await c.chain.awaitConfirmation(await c.chain.submit((await (await tx.complete()).sign.withWallet().complete()).toCBOR()));
      }),
    );
    const sink = addressOfPrivateKey(newPrivateKey(), "devnet");
    const deadline = performance.now() + E2E_SECONDS * 1000;
    let confirmed = 0;
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        const lanes = (await c.chain.utxosAt(c.address)).filter((u) => u.assets.lovelace === 200_000_000n).slice(0, inFlight);
        await Promise.all(
          lanes.map(async (start) => {
            let utxo: UTxO = start;
            while (performance.now() < deadline) {
              const signed = await (await c.lucid.newTx().collectFrom([utxo]).pay.ToAddress(sink, { lovelace: 1_000_000n }).complete({ coinSelection: false, changeAddress: c.address })).sign.withWallet().complete();
              const hash = await c.chain.submit(signed.toCBOR());
              await c.chain.awaitConfirmation(hash, { pollMs: 50 });
              confirmed++;
              const next = (await c.chain.utxosAt(c.address)).find((u) => u.txHash === hash);
              if (!next) throw new Error(`change of ${hash} not found`);
              utxo = next;
            }
          }),
        );
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { clients: CLIENTS, inFlightPerClient: inFlight, blockTimeMs: 1000, seconds: Math.round(seconds * 10) / 10, confirmed, confirmedPerSecond: Math.round((confirmed / seconds) * 10) / 10 };
  } finally {
    await server.stop();
  }
}

const started = new Date().toISOString();
const cpu = cpus();
const machine = { os: `${osType()} ${release()}`, cpuModel: cpu[0]?.model ?? "unknown", cpus: cpu.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100) };
console.error(`[bench:chain] ${machine.cpus} cpus (${machine.cpuModel}), load ${machine.loadAverageAtStart.join(" ")}`);

console.error("[bench:chain] latency with 1 s blocks…");
const latencyDefault = await latency(1000);
console.error("[bench:chain] latency with on-demand blocks…");
const latencyOnDemand = await latency(0);
console.error("[bench:chain] throughput, pre-signed…");
const presigned = await throughputPresigned();
console.error("[bench:chain] throughput, end to end…");
const endToEnd = await throughputEndToEnd();

const report = {
  bench: "chain",
  started,
  machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100), note: "shared machine: several engineers' processes run at once; compare ratios, not absolute times" },
  latency: { defaultBlockTime: latencyDefault, onDemandBlocks: latencyOnDemand },
  throughput: { presigned, endToEnd },
  ratios: {
    p50DefaultOverOnDemand: Math.round((latencyDefault.submitToConfirmedMs.p50 / latencyOnDemand.submitToConfirmedMs.p50) * 10) / 10,
    presignedOverEndToEnd: Math.round((presigned.submissionsPerSecond / endToEnd.confirmedPerSecond) * 10) / 10,
  },
};
await mkdir(join(ROOT, "reports"), { recursive: true });
await writeFile(join(ROOT, "reports/bench-chain.json"), JSON.stringify(report, null, 2) + "\n");
console.log(JSON.stringify(report, null, 2));
