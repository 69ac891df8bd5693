/**
 * `npm run bench:market`: the matcher on a real nats-server (loopback), every signature checked.
 *
 *  1. Throughput: a backlog of signed bids (CIP-8, Ed25519) against a 1k-offer book, consumed by ONE matcher
 *     instance with its verification threads on all cores; sustained matches/s, and the same cores' bare
 *     Ed25519 verification rate for the ratio (libsodium, which the matcher uses, and OpenSSL). Nobody confirms,
 *     so every matched bid stays held: the worst case for the matcher's memory. `--runs` drains (default 3),
 *     median reported; `--bids` per drain (default 20,000). The same ratio in CPU time beside it (bare CPU per
 *     verification / matcher and nats-server CPU per matched bid), which a loaded machine moves far less.
 *  2. Latency: bid publish → match received, open loop, with books of 1k, 10k and 100k offers; p50/p99 and
 *     the 100k/1k p99 ratio. The 10k/100k books are put into the matcher's book in memory: signing and
 *     verifying 100k EIP-712 offers (~1 ms each) would take minutes and is not on the bid→match path.
 *  3. findBest alone per book size (pure matching compute).
 *  5. Hostile input (issue #9): time for a valid bid to be matched right after a poison bid (signed, maxPrice
 *     "1e308"), right after 10,000 junk messages (malformed, unsigned, badly signed), and behind 50,000 parked
 *     no-fit bids (`--parked`); floor 1 s each.
 *  6. Cluster (`--phases=cluster`, `--cluster-bids`, default 10,000): 2 matchers on a 3-node NATS cluster beside
 *     1 matcher on 1 node, same run (scripts/bench/market-cluster.ts).
 *  7. Budget (`--phases=budget`, scripts/bench/market-budget.ts): the CPU per bid no matcher can skip (JetStream
 *     pull + ack + one awaited publish, raw nats.js; the bid's whole check above its bare verification) and the
 *     ratio those parts alone would allow: the ceiling the throughput ratio is read against.
 *  4. One message's whole check per kind (bid, confirmation, offer), next to the general-purpose alternatives:
 *     bare OpenSSL Ed25519, ethers.verifyTypedData, ethers' EIP-712 encoder, pure-JS blake2b.
 *
 * Prints one JSON document. The machine is shared with other engineers while this runs: absolute numbers
 * are noisy, ratios are the figures to compare.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { jobHash } from "../../src/market/job-hash.js";
import { availableParallelism, cpus, loadavg } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { performance as nodePerformance } from "node:perf_hooks";
import { jetstreamManager } from "@nats-io/jetstream";
import { signOffer, providerIdOf } from "../../src/market/eip712.js";
import { decodeBid } from "../../src/market/decode.js";
import { createMatcher } from "../../src/market/matcher.js";
import { Offer, type BidInput, type MatchInput, type UnsignedBid, type UnsignedOffer } from "../../src/market/schemas.js";
import { signBid } from "../../src/market/bid-signing.js";
import { ed25519PrivateKeyObject, ed25519RawPublicKey, parseCoseSign1, sigStructure } from "../../src/market/cose.js";
import { connectNats, createMarketClient, createNatsMarketTransport, ensureMarketInfrastructure, type NatsConnection } from "../../src/nats/index.js";
import { startNatsServer } from "../../test/helpers/nats.js";
import { bidTerms, offerTerms } from "../../test/market/fixtures.js";

// Each phase starts clean of the one before: a full collection of its garbage (the throughput drains leave
// hundreds of MB) and a flush of the JetStream files it wrote. Left alone, the kernel writes those back while
// the next phase runs, and the stalls show up as that phase's latency.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
function settle(): void {
  gc();
  execFileSync("sync");
}

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=") as [string, string]));
const THROUGHPUT_BIDS = Number(args.get("bids") ?? 20_000);
const THROUGHPUT_RUNS = Number(args.get("runs") ?? 3);
const LATENCY_BIDS = Number(args.get("latency-bids") ?? 2_000);
const LATENCY_RATE = Number(args.get("rate") ?? 200);
const SIZES = (args.get("sizes") ?? "1000,10000,100000").split(",").map(Number);
const WORKERS = Number(args.get("workers") ?? availableParallelism());
const PHASES = new Set((args.get("phases") ?? "throughput,budget,latency,findbest,decode,hostile,cluster").split(","));
const PARKED_BIDS = Number(args.get("parked") ?? 50_000);

const te = new TextEncoder();
const json = (v: unknown) => te.encode(JSON.stringify(v));
let nonce = BigInt(Date.now()) * 1000n;
const nextNonce = () => (nonce++).toString();
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

// Deterministic pseudo-random, so runs are comparable.
let rnd = 7;
const r = (n: number) => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) % n);

interface Buyer {
  privateKey: KeyObject;
  key: string;
}
const buyers: Buyer[] = Array.from({ length: 50 }, () => {
  const privateKey = ed25519PrivateKeyObject(new Uint8Array(randomBytes(32)));
  return { privateKey, key: Buffer.from(ed25519RawPublicKey(privateKey)).toString("hex") };
});

function makeBid(i: number, resources: UnsignedBid["spec"]["resources"], over: Partial<UnsignedBid> = {}): { bid: BidInput; jobHash: string } {
  const buyer = buyers[i % buyers.length]!;
  const unsigned: UnsignedBid = {
    v: 1,
    type: "bid",
    spec: { image: "ntx-test/busybox:1", command: ["sh", "-c", `echo job ${i} ${nextNonce()}`], env: { N: String(i) }, resources, maxDurationMs: 3_600_000, outputs: ["/work/out"], network: "none" },
    maxPrice: "100000000",
    deadline: Date.now() + 7_200_000,
    expiresAt: Date.now() + 3_600_000,
    buyer: { key: buyer.key },
    nonce: nextNonce(),
    terms: bidTerms,
    ...over,
  };
  return { bid: signBid(buyer.privateKey, unsigned), jobHash: jobHash(unsigned.spec) };
}

function offerFields(providerId: string, i: number, cores: number): UnsignedOffer {
  return {
    v: 1,
    type: "offer",
    providerId,
    payoutAddress: "addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8",
    region: ["eu", "us", "ap"][i % 3]!,
    attributes: i % 4 === 0 ? { tier: "gold" } : {},
    resources: { cpuCores: cores, memoryMiB: 1024 * (64 + r(192)), diskGiB: 1000, gpus: i % 5 === 0 ? [{ model: "a100", vramMiB: 81_920 }] : [] },
    prices: { cpuCoreHour: String(100 + r(5000)), memoryGiBHour: String(r(500)), diskGiBHour: String(r(10)), gpuHour: String(1000 + r(90_000)) },
    maxDurationMs: 86_400_000,
    terms: offerTerms,
    expiresAt: Date.now() + 3_600_000,
    nonce: nextNonce(),
  };
}

/**
 * Bare Ed25519 verification of the bench's own signatures on `threads` worker threads, for the ratio: with
 * libsodium (what the matcher verifies with) and, for reference, node:crypto's OpenSSL.
 */
async function bareVerifyRate(threads: number, bids: BidInput[], ms: number, library: "libsodium" | "openssl"): Promise<{ perSec: number; cpuMicrosPerVerify: number }> {
  const items = bids.slice(0, 2_000).map((b) => {
    const cose = parseCoseSign1(Buffer.from(b.signature.signature, "hex"));
    return { data: sigStructure(cose.protectedBytes, cose.payload), sig: cose.signature, key: b.buyer.key };
  });
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { createRequire } = require("node:module");
    const { createPublicKey, verify } = require("node:crypto");
    const sodium = createRequire(workerData.from)("sodium-native");
    const prefix = Buffer.from("302a300506032b6570032100", "hex");
    const items = workerData.items.map((it) => {
      const raw = Buffer.from(it.key, "hex");
      const k = workerData.library === "openssl" ? createPublicKey({ key: Buffer.concat([prefix, raw]), format: "der", type: "spki" }) : raw;
      return { data: Buffer.from(it.data), sig: Buffer.from(it.sig), k };
    });
    const check = workerData.library === "openssl" ? (it) => verify(null, it.data, it.k, it.sig) : (it) => sodium.crypto_sign_verify_detached(it.sig, it.data, it.k);
    // This thread's CPU seconds (Linux): what one verification costs whatever else the machine runs.
    const cpu = () => { try { const f = require("node:fs").readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) / 100; } catch { return NaN; } };
    let n = 0; const cpu0 = cpu(); const end = Date.now() + workerData.ms;
    while (Date.now() < end) { for (let i = 0; i < 100; i++) { if (!check(items[(n + i) % items.length])) throw new Error("bad"); } n += 100; }
    parentPort.postMessage({ n, cpu: cpu() - cpu0 });`;
  const counts = await Promise.all(
    Array.from({ length: threads }, () => new Promise<{ n: number; cpu: number }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { items, ms, library, from: import.meta.url } });
      w.once("message", (m: { n: number; cpu: number }) => void w.terminate().then(() => resolve(m)));
      w.once("error", reject);
    })),
  );
  const verified = counts.reduce((a, c) => a + c.n, 0);
  return { perSec: verified / (ms / 1000), cpuMicrosPerVerify: (counts.reduce((a, c) => a + c.cpu, 0) * 1e6) / verified };
}

/**
 * CPU seconds (user + system) a process has used, from /proc; NaN where there is no /proc. With `tid`, one thread
 * of it: the main thread's tid is the pid, and its CPU time (unlike event-loop utilization, which counts the
 * time the thread waited for a core as busy) is what the machine's other load moves least.
 */
function processCpuSeconds(pid: number, tid?: number): number {
  try {
    const fields = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function withMarket<T>(fn: (ctx: { nc: NatsConnection; url: string; serverPid: number }) => Promise<T>): Promise<T> {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: server.url, name: "bench-client" });
  await ensureMarketInfrastructure(nc);
  try {
    return await fn({ nc, url: server.url, serverPid: server.pid });
  } finally {
    await nc.close().catch(() => undefined);
    await server.stop();
  }
}

async function startMatcher(url: string, params: Partial<Parameters<typeof createMatcher>[0]> = {}) {
  const nc = await connectNats({ servers: url, name: "bench-matcher" });
  const transport = await createNatsMarketTransport(nc);
  const matcher = createMatcher({ transport, durable: "bench", verifyWorkers: WORKERS, confirmWindowMs: 600_000, maxAckPending: 1_000_000, ...params });
  await matcher.start();
  return { matcher, stop: async () => { await matcher.stop(); await transport.close(); await nc.close(); } };
}

async function publishOffers(nc: NatsConnection, count: number, cores: number): Promise<void> {
  const client = createMarketClient(nc);
  const keys = Array.from({ length: count }, () => `0x${randomBytes(32).toString("hex")}`);
  for (let i = 0; i < count; i += 200) {
    await Promise.all(keys.slice(i, i + 200).map((k, j) => client.publishOffer(signOffer(k, offerFields(providerIdOf(k), i + j, cores)))));
  }
}

// ---------- 1. throughput ----------
async function throughput() {
  settle();
  const bids = Array.from({ length: THROUGHPUT_BIDS }, (_, i) => makeBid(i, { cpuCores: 1, memoryMiB: 256, diskGiB: 1 }));
  const bareBefore = await bareVerifyRate(WORKERS, bids.map((b) => b.bid), 3_000, "libsodium");
  return withMarket(async ({ nc, url, serverPid }) => {
    // Enough capacity for every bid, so each one is matched exactly once.
    await publishOffers(nc, 1_000, 64);
    const client = createMarketClient(nc);
    for (let i = 0; i < bids.length; i += 1_000) await Promise.all(bids.slice(i, i + 1_000).map((b) => client.publishBid(b.jobHash, b.bid)));
    const stamps: number[] = [];
    // BENCH_PROFILE=file.cpuprofile: CPU profile of the matcher's main thread while it drains the backlog.
    const session = process.env.BENCH_PROFILE ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
    }
    // BENCH_HEAP_PROFILE=file.heapprofile: sampled allocations of the main thread, collected ones included.
    const heapSession = process.env.BENCH_HEAP_PROFILE ? new Session() : undefined;
    if (heapSession) {
      heapSession.connect();
      await heapSession.post("HeapProfiler.startSampling", { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
    }
    // CPU cost per bid, which the machine's other load moves far less than the rate: this process (matcher main
    // thread + verify workers; the bids were published before) and nats-server, over the drain.
    let cpu0: { proc: NodeJS.CpuUsage; main: number; server: number; elu: ReturnType<typeof nodePerformance.eventLoopUtilization> } | undefined;
    const { matcher, stop } = await startMatcher(url, {
      onMatch: () => {
        stamps.push(performance.now());
        if (stamps.length === 1) cpu0 = { proc: process.cpuUsage(), main: processCpuSeconds(process.pid, process.pid), server: processCpuSeconds(serverPid), elu: nodePerformance.eventLoopUtilization() };
      },
    });
    const started = performance.now();
    const deadline = Date.now() + 600_000;
    while (stamps.length < bids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const total = (performance.now() - started) / 1000;
    const procCpu = cpu0 ? process.cpuUsage(cpu0.proc) : undefined;
    // Every matched bid is still held (nobody confirms): the matcher's footprint per bid awaiting confirmation.
    const heapUsedMiB = process.memoryUsage().heapUsed / 2 ** 20;
    const serverCpu = cpu0 ? processCpuSeconds(serverPid) - cpu0.server : NaN;
    const mainCpu = cpu0 ? processCpuSeconds(process.pid, process.pid) - cpu0.main : NaN;
    const elu = cpu0 ? nodePerformance.eventLoopUtilization(cpu0.elu) : undefined;
    if (heapSession) {
      const { profile } = await heapSession.post("HeapProfiler.stopSampling");
      writeFileSync(process.env.BENCH_HEAP_PROFILE!, JSON.stringify(profile));
      heapSession.disconnect();
    }
    if (session) {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(profile));
      session.disconnect();
    }
    // Sustained: between the 10% and 90% marks, leaving out start-up and the tail.
    const a = stamps[Math.floor(bids.length * 0.1)]!;
    const b = stamps[Math.floor(bids.length * 0.9) - 1]!;
    const sustained = (Math.floor(bids.length * 0.9) - Math.floor(bids.length * 0.1)) / ((b - a) / 1000);
    const rejected = (await matcher.metrics.rejected.get()).values.reduce((s, v) => s + v.value, 0);
    // JetStream writes the drain cost, per matched bid (each is one request/reply with the server).
    const jsm = await jetstreamManager(nc);
    const writes = async (stream: string) => (await jsm.streams.info(stream)).state.last_seq;
    const [capacityWrites, jobWrites, matchWrites] = await Promise.all([writes("KV_ntx-capacity"), writes("KV_ntx-jobs"), writes("NTX_MATCHES")]);
    await stop();
    // The machine's load moves by the second: bare verification is measured before and after, averaged.
    const bareAfter = await bareVerifyRate(WORKERS, bids.map((x) => x.bid), 3_000, "libsodium");
    const bare = (bareBefore.perSec + bareAfter.perSec) / 2;
    const bareCpu = (bareBefore.cpuMicrosPerVerify + bareAfter.cpuMicrosPerVerify) / 2;
    const bareOpenssl = (await bareVerifyRate(WORKERS, bids.map((x) => x.bid), 3_000, "openssl")).perSec;
    const matchedBidCpu = procCpu ? (procCpu.user + procCpu.system) / stamps.length + (serverCpu * 1e6) / stamps.length : NaN;
    return {
      bids: bids.length,
      matched: stamps.length,
      rejected,
      bookOffers: 1_000,
      verifyThreads: WORKERS,
      sustainedMatchedPerSec: round(sustained, 0),
      overallMatchedPerSec: round(stamps.length / total, 0),
      firstMatchAfterStartSeconds: round(((stamps[0] ?? NaN) - started) / 1000, 2),
      // Seconds each tenth of the backlog took, from the matcher's start: where start-up and the tail go.
      tenthsSeconds: Array.from({ length: 10 }, (_, k) => round(((stamps[Math.floor(((k + 1) * stamps.length) / 10) - 1] ?? NaN) - (k === 0 ? started : stamps[Math.floor((k * stamps.length) / 10) - 1]!)) / 1000, 2)),
      verifier: "libsodium (sodium-native), on the matcher's worker threads",
      bareEd25519VerifyPerSecSameThreads: round(bare, 0),
      bareVerifyBeforeAfter: [round(bareBefore.perSec, 0), round(bareAfter.perSec, 0)],
      ratioToBareVerify: round(sustained / bare, 3),
      // The same ratio in CPU time, which the machine's other load moves far less than rates: bare CPU per
      // verification over the CPU one matched bid cost (matcher process and nats-server, over the whole drain,
      // start-up and tail included, so it reads lower than the sustained ratio). On an otherwise idle machine,
      // where both keep every core busy, the two agree.
      bareCpuMicrosPerVerify: round(bareCpu, 1),
      cpuRatioToBareVerify: round(bareCpu / matchedBidCpu, 3),
      bareOpensslEd25519VerifyPerSecSameThreads: round(bareOpenssl, 0),
      ratioToBareOpensslVerify: round(sustained / bareOpenssl, 3),
      cpuMicrosPerMatchedBid: {
        matcherProcess: procCpu ? round((procCpu.user + procCpu.system) / stamps.length, 1) : null,
        matcherMainThread: elu ? round((elu.active * 1000) / stamps.length, 1) : null,
        matcherMainThreadCpu: round((mainCpu * 1e6) / stamps.length, 1),
        natsServer: round((serverCpu * 1e6) / stamps.length, 1),
      },
      heapUsedMiBWithAllBidsAwaitingConfirm: round(heapUsedMiB, 0),
      jetStreamWritesPerMatchedBid: {
        capacityCas: round(capacityWrites / Math.max(1, stamps.length), 3),
        jobRecord: round(jobWrites / Math.max(1, stamps.length), 3),
        matchPublish: round(matchWrites / Math.max(1, stamps.length), 3),
      },
    };
  });
}

// ---------- 2. latency ----------
/**
 * Publishes `bids` at `rate` per second from a worker thread over its own connection (raw nats.js, JetStream
 * publish with the jobHash as message id, as the market client does) and returns each bid's publish → match
 * received time in ms, in send order (NaN when no match came within 60 s).
 */
async function buyerThread(url: string, bids: Array<{ subject: string; jobHash: string; data: Uint8Array }>, rate: number): Promise<number[]> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const req = require("node:module").createRequire(workerData.from);
    const { connect } = req("@nats-io/transport-node");
    const { jetstream } = req("@nats-io/jetstream");
    (async () => {
      const nc = await connect({ servers: workerData.url, name: "bench-buyer" });
      const js = jetstream(nc);
      const { bids, rate } = workerData;
      const sentAt = new Map();
      const latency = new Map();
      nc.subscribe("ntx.matches.*", { callback: (_e, m) => {
        const jobHash = m.subject.slice("ntx.matches.".length);
        const t0 = sentAt.get(jobHash);
        if (t0 !== undefined && !latency.has(jobHash)) latency.set(jobHash, performance.now() - t0);
      } });
      await nc.flush();
      const gap = 1000 / rate;
      const start = performance.now();
      for (let i = 0; i < bids.length; i++) {
        const wait = start + i * gap - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sentAt.set(bids[i].jobHash, performance.now());
        js.publish(bids[i].subject, bids[i].data, { msgID: bids[i].jobHash }).catch(() => undefined);
      }
      const deadline = Date.now() + 60000;
      while (latency.size < bids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await nc.close();
      parentPort.postMessage(bids.map((b) => latency.get(b.jobHash) ?? NaN));
    })().catch((e) => { throw e; });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { url, bids, rate, from: import.meta.url } });
    worker.once("message", (latencies: number[]) => void worker.terminate().then(() => resolve(latencies)));
    worker.once("error", reject);
  });
}

async function latency(size: number) {
  settle();
  return withMarket(async ({ nc, url }) => {
    const inMatcher: number[] = [];
    // In-matcher latency: bid delivered to the matcher → match stored and published.
    const { matcher, stop } = await startMatcher(url, { onMatch: (_m, receivedAt) => void inMatcher.push(Date.now() - receivedAt) });
    // Seed the book in memory (see the header): schema-valid offers, unique provider ids.
    const now = Date.now();
    for (let i = 0; i < size; i++) {
      const id = `02${i.toString(16).padStart(64, "0")}`;
      const offer = Offer.parse({ ...offerFields(id, i, 32), signature: `0x${"11".repeat(64)}1b` });
      matcher.book.upsert(offer, "0x", now);
    }
    const bids = Array.from({ length: LATENCY_BIDS + 50 }, (_, i) =>
      makeBid(i, { cpuCores: 1 + r(8), memoryMiB: 1024 * (1 + r(32)), diskGiB: 1, ...(i % 10 === 0 ? { gpu: { count: 1, model: "a100" } } : {}) }),
    );
    // The buyer side runs on its own thread with its own raw nats.js connection, as a buyer is its own process:
    // publishing, reading matches and their garbage stay off the matcher's event loop and heap.
    const e2e = await buyerThread(url, bids.map((b) => ({ subject: `ntx.bids.${b.jobHash}`, jobHash: b.jobHash, data: json(b.bid) })), LATENCY_RATE);
    await stop();
    // The first 50 warm the JIT and the connections. A bid that fits no offer left (the book has fewer GPU
    // slots than the stream has GPU bids) is parked, not matched: counted apart.
    const steady = e2e.slice(50).filter((ms) => !Number.isNaN(ms));
    const steadyIn = inMatcher.slice(50);
    return {
      offers: size,
      bids: steady.length,
      unmatched: e2e.slice(50).length - steady.length,
      ratePerSec: LATENCY_RATE,
      p50Ms: round(percentile(steady, 50)),
      p99Ms: round(percentile(steady, 99)),
      inMatcherP50Ms: round(percentile(steadyIn, 50)),
      inMatcherP99Ms: round(percentile(steadyIn, 99)),
    };
  });
}

// ---------- 5. hostile input ----------
/** Publishes `valid` and resolves with the ms until its match is seen (60 s at most: then Infinity). */
async function timeToMatch(client: ReturnType<typeof createMarketClient>, valid: { bid: BidInput; jobHash: string }): Promise<number> {
  let resolve!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  const t0 = performance.now();
  const stop = client.onMatch(() => resolve(performance.now() - t0), valid.jobHash);
  const timer = setTimeout(() => resolve(Infinity), 60_000);
  await client.publishBid(valid.jobHash, valid.bid);
  const ms = await done;
  clearTimeout(timer);
  stop();
  return round(ms, 1);
}

async function hostile() {
  settle();
  return withMarket(async ({ nc, url }) => {
    await publishOffers(nc, 1_000, 64);
    const { matcher, stop } = await startMatcher(url);
    const client = createMarketClient(nc);
    const fits = { cpuCores: 1, memoryMiB: 256, diskGiB: 1 };
    const rejected = async () => (await matcher.metrics.rejected.get()).values.reduce((a, v) => a + v.value, 0);

    // A signed bid whose amount BigInt() cannot read, then a valid one at once.
    const poison = makeBid(0, fits, { maxPrice: "1e308" });
    await client.publishRaw(`ntx.bids.${poison.jobHash}`, json(poison.bid));
    const afterPoisonMs = await timeToMatch(client, makeBid(1, fits));

    // 10,000 junk messages, fire and forget, then a valid bid.
    const signed = makeBid(2, fits).bid;
    const { signature: _s, ...unsigned } = signed;
    const junkKinds = [() => randomBytes(120), () => json(unsigned), () => json({ ...signed, maxPrice: "7" }), () => te.encode("[1,2")];
    const before = await rejected();
    for (let i = 0; i < 10_000; i++) nc.publish(`ntx.bids.${randomBytes(32).toString("hex")}`, junkKinds[i % junkKinds.length]!());
    await nc.flush();
    const afterJunkMs = await timeToMatch(client, makeBid(3, fits));
    const deadline = Date.now() + 60_000;
    while ((await rejected()) - before < 10_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const junkCounted = (await rejected()) - before;

    // No-fit bids (more cores than any offer), parked; then a valid bid.
    const noFit = Array.from({ length: PARKED_BIDS }, (_, i) => makeBid(10 + i, { cpuCores: 4096, memoryMiB: 256, diskGiB: 1 }));
    const parkStart = performance.now();
    for (let i = 0; i < noFit.length; i += 2_000) await Promise.all(noFit.slice(i, i + 2_000).map((b) => client.publishBid(b.jobHash, b.bid)));
    while (matcher.stats().parked < PARKED_BIDS && performance.now() - parkStart < 600_000) await new Promise((r) => setTimeout(r, 50));
    const parkedIn = round((performance.now() - parkStart) / 1000, 1);
    const parked = matcher.stats().parked;
    const behindParkedMs = await timeToMatch(client, makeBid(20 + PARKED_BIDS, fits));
    await stop();
    return {
      offers: 1_000,
      validBidToMatchMs: { afterPoisonBid: afterPoisonMs, after10kJunk: afterJunkMs, [`behind${PARKED_BIDS}Parked`]: behindParkedMs },
      floorMs: 1_000,
      junkCounted,
      parked,
      secondsToPark: parkedIn,
    };
  });
}

// ---------- 3. findBest alone ----------
async function findBestCost(size: number) {
  const { OrderBook } = await import("../../src/market/order-book.js");
  const book = new OrderBook();
  const now = Date.now();
  for (let i = 0; i < size; i++) {
    const id = `02${i.toString(16).padStart(64, "0")}`;
    book.upsert(Offer.parse({ ...offerFields(id, i, 32), signature: `0x${"11".repeat(64)}1b` }), "0x", now);
  }
  const probe = Array.from({ length: 200 }, (_, i) => {
    const d = decodeBid(json(makeBid(i, { cpuCores: 1 + r(8), memoryMiB: 1024 * (1 + r(32)), diskGiB: 1, ...(i % 10 === 0 ? { gpu: { count: 1, model: "a100" } } : {}) }).bid), { now });
    if (!d.ok) throw new Error("probe");
    return d.value.bid;
  });
  for (const b of probe) book.findBest(b, { now });
  const times: number[] = [];
  const work = { blocksBounded: 0, blocksScanned: 0, entriesScanned: 0 };
  const entries: number[] = [];
  const bounded: number[] = [];
  for (let k = 0; k < 5; k++) {
    for (const b of probe) {
      const t = performance.now();
      book.findBest(b, { now, stats: work });
      times.push((performance.now() - t) * 1000);
      entries.push(work.entriesScanned);
      bounded.push(work.blocksBounded);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Work counts do not depend on the machine's load: the cost growth to trust on a shared machine.
  return { offers: size, p50Us: round(percentile(times, 50), 1), p99Us: round(percentile(times, 99), 1), meanEntriesScanned: round(mean(entries), 1), p99EntriesScanned: percentile(entries, 99), meanBlocksBounded: round(mean(bounded), 1) };
}

// ---------- 4. one message's check, per kind, next to the general-purpose alternative ----------
/** Mean µs per call of `fn` over ~`ms` of calls, after a warm-up. */
function microseconds(fn: (i: number) => unknown, ms = 1_500): number {
  for (let i = 0; i < 200; i++) fn(i);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) for (let k = 0; k < 20; k++) fn(n++);
  return round(((performance.now() - start) * 1000) / n, 1);
}

async function decodeCosts() {
  settle();
  const { createPublicKey, verify } = await import("node:crypto");
  const { verifyTypedData, TypedDataEncoder } = await import("ethers");
  const { blake2b: nobleBlake2b } = await import("@noble/hashes/blake2b");
  const { NTX_EIP712_DOMAIN } = await import("../../offchain/eip712-domain.js");
  const { decodeOffer, decodeProviderConfirm } = await import("../../src/market/decode.js");
  const { signProviderConfirm, PROVIDER_CONFIRM_TYPES, providerConfirmDigest } = await import("../../src/market/eip712.js");
  const { blake2b256, ed25519Verify } = await import("../../src/crypto/sodium.js");
  const now = Date.now();
  const bids = Array.from({ length: 200 }, (_, i) => json(makeBid(i, { cpuCores: 1, memoryMiB: 256, diskGiB: 1 }).bid));
  const coses = bids.map((b) => {
    const bid = JSON.parse(new TextDecoder().decode(b)) as BidInput;
    const cose = parseCoseSign1(Buffer.from(bid.signature.signature, "hex"));
    const raw = Buffer.from(bid.buyer.key, "hex");
    return { data: sigStructure(cose.protectedBytes, cose.payload), sig: cose.signature, raw, key: createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]), format: "der", type: "spki" }) };
  });
  const key = `0x${randomBytes(32).toString("hex")}`;
  const providerId = providerIdOf(key);
  const offers = Array.from({ length: 200 }, (_, i) => signOffer(key, offerFields(providerId, i, 32)));
  const offerBytes = offers.map(json);
  const confirms = Array.from({ length: 200 }, (_, i) => signProviderConfirm(key, { v: 1, type: "provider-confirm", matchId: `${"ab".repeat(32)}-${i + 1}`, jobHash: "ab".repeat(32), providerId, confirmedAt: now }));
  const confirmBytes = confirms.map(json);
  const confirmValue = (c: (typeof confirms)[number]) => ({ v: c.v, matchId: c.matchId, jobHash: `0x${c.jobHash}`, providerId: `0x${c.providerId}`, confirmedAt: c.confirmedAt });
  const kib = randomBytes(1024);
  const at = <T>(xs: T[], i: number) => xs[i % xs.length]!;
  const ok = (d: { ok: boolean }) => {
    if (!d.ok) throw new Error("bench message did not verify");
  };
  return {
    note: "µs per message on one thread, the whole check (size, JSON, schema, hashes, signature) unless named bare",
    bidDecodeAndVerify: microseconds((i) => ok(decodeBid(at(bids, i), { now }))),
    bareEd25519Libsodium: microseconds((i) => ed25519Verify(at(coses, i).sig, at(coses, i).data, at(coses, i).raw)),
    bareEd25519Openssl: microseconds((i) => verify(null, at(coses, i).data, at(coses, i).key, at(coses, i).sig)),
    confirmDecodeAndVerify: microseconds((i) => ok(decodeProviderConfirm(at(confirmBytes, i)))),
    confirmWithEthersVerifyTypedData: microseconds((i) => verifyTypedData(NTX_EIP712_DOMAIN, PROVIDER_CONFIRM_TYPES, confirmValue(at(confirms, i)), at(confirms, i).signature)),
    confirmDigestHere: microseconds((i) => providerConfirmDigest(at(confirms, i))),
    confirmDigestEthersEncoder: microseconds((i) => TypedDataEncoder.hash(NTX_EIP712_DOMAIN, PROVIDER_CONFIRM_TYPES, confirmValue(at(confirms, i)))),
    offerDecodeAndVerify: microseconds((i) => ok(decodeOffer(at(offerBytes, i), { now }))),
    blake2b256Of1KiBLibsodium: microseconds(() => blake2b256(kib)),
    blake2b256Of1KiBNobleJs: microseconds(() => nobleBlake2b(kib, { dkLen: 32 })),
  };
}

const load = loadavg();
const result: Record<string, unknown> = {
  bench: "market",
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, loadavg1mAtStart: round(load[0]!), note: "shared with other engineers while measured: absolute figures are noisy, compare ratios" },
  nats: "nats-server on 127.0.0.1 (JetStream, file store)",
};
if (PHASES.has("throughput")) {
  // Each run drains its own backlog on a fresh nats-server; the machine's load moves between runs, so the
  // figures are the median run's, with every run kept beside them.
  const runs: Awaited<ReturnType<typeof throughput>>[] = [];
  for (let i = 0; i < THROUGHPUT_RUNS; i++) runs.push(await throughput());
  const median = (pick: (r: (typeof runs)[number]) => number) => {
    const xs = runs.map(pick).sort((a, b) => a - b);
    return xs[Math.floor((xs.length - 1) / 2)]!;
  };
  result.throughput = {
    runs: runs.length,
    bidsPerRun: THROUGHPUT_BIDS,
    medianSustainedMatchedPerSec: median((r) => r.sustainedMatchedPerSec),
    medianOverallMatchedPerSec: median((r) => r.overallMatchedPerSec),
    medianRatioToBareVerify: median((r) => r.ratioToBareVerify),
    medianRatioToBareOpensslVerify: median((r) => r.ratioToBareOpensslVerify),
    medianCpuRatioToBareVerify: median((r) => r.cpuRatioToBareVerify),
    medianCpuMicrosPerMatchedBid: {
      matcherProcess: median((r) => r.cpuMicrosPerMatchedBid.matcherProcess ?? NaN),
      matcherMainThread: median((r) => r.cpuMicrosPerMatchedBid.matcherMainThread ?? NaN),
      matcherMainThreadCpu: median((r) => r.cpuMicrosPerMatchedBid.matcherMainThreadCpu),
      natsServer: median((r) => r.cpuMicrosPerMatchedBid.natsServer),
    },
    floorRatioToBareVerify: 0.3,
    each: runs,
  };
}
if (PHASES.has("budget")) {
  settle();
  const { budgetPhase } = await import("./market-budget.js");
  result.budget = await budgetPhase(Array.from({ length: 2_000 }, (_, i) => json(makeBid(i, { cpuCores: 1, memoryMiB: 256, diskGiB: 1 }).bid)));
}
const lat: Record<string, unknown>[] = [];
if (PHASES.has("latency")) for (const size of SIZES) lat.push(await latency(size));
result.latency = lat;
const find: Record<string, unknown>[] = [];
if (PHASES.has("findbest")) for (const size of SIZES) find.push(await findBestCost(size));
result.findBest = find;
if (PHASES.has("decode")) result.decode = await decodeCosts();
if (PHASES.has("hostile")) result.hostile = await hostile();
// (cluster engineer, #13) 2 matchers on a 3-node cluster beside 1 matcher on 1 node: scripts/bench/market-cluster.ts.
if (PHASES.has("cluster")) {
  settle();
  const { clusterPhase } = await import("./market-cluster.js");
  result.cluster = await clusterPhase({ bids: Number(args.get("cluster-bids") ?? 10_000), workers: WORKERS, makeBid: (i) => makeBid(i, { cpuCores: 1, memoryMiB: 256, diskGiB: 1 }), offerFields });
}
const p99 = (n: number) => (lat.find((l) => l.offers === n)?.p99Ms as number | undefined) ?? NaN;
const first = SIZES[0]!;
const last = SIZES[SIZES.length - 1]!;
result.growth = {
  [`p99_${last}_over_p99_${first}`]: round(p99(last) / p99(first)),
  floor: 2,
  [`findBest_p99_${last}_over_${first}`]: find.length ? round((find.at(-1)!.p99Us as number) / (find[0]!.p99Us as number)) : null,
  [`findBest_entriesScanned_${last}_over_${first}`]: find.length ? round((find.at(-1)!.meanEntriesScanned as number) / (find[0]!.meanEntriesScanned as number)) : null,
};
const hostileMs = Object.values((result.hostile as { validBidToMatchMs?: Record<string, number> } | undefined)?.validBidToMatchMs ?? {});
result.floors = {
  // Issue #9: sustained signed bids/s at least 0.30 x bare libsodium verification on the same threads, same run.
  throughputRatioMet: ((result.throughput as { medianRatioToBareVerify?: number } | undefined)?.medianRatioToBareVerify ?? 0) >= 0.3,
  p99At10kMs: p99(10_000),
  p99At10kMet: p99(10_000) <= 25,
  growthMet: p99(last) / p99(first) <= 2,
  hostileMet: hostileMs.length === 3 && hostileMs.every((ms) => ms <= 1_000),
};
result.loadavg1mAtEnd = round(loadavg()[0]!);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
