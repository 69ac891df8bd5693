/**
 * `npm run test:load` (issue #13 part 3): many providers and thousands of jobs through NATS and the devnet chain,
 * end to end to payout (batched claims), with the fault suite's outside checks for loss and doubles.
 *
 *   npm run test:load                      # 5,000 jobs, 50 providers
 *   npm run test:load -- --jobs=500        # a shorter run
 *   options: --jobs=N --providers=N --docker=N (of the providers, how many run jobs in Docker) --rate=bids/s
 *            --per-process=N (no-op providers per Node process) --slots=N (jobs per provider at once)
 *            --run-ms=N (a no-op job's run time) --deadline-min=N (escrow deadline; unpaid jobs are refunded after it)
 *            --buyers=N (buyer wallets, each locking its own matches) --build-threads=N (tx-build threads per no-op process)
 *
 * Bids go straight to JetStream (the API's rate limits are for one client, not a market); each buyer wallet locks
 * its confirmed matches 60 to a transaction; providers run, Complete and Claim by themselves, building both on
 * their tx-build threads (one pool per no-op process). Figures, with each process's CPU seconds over the run, are
 * printed, written to reports/load.json and to docs/RELIABILITY.md (section "load").
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { Buyers } from "../test/faults/buyers.js";
import { losses, verdict } from "../test/faults/checks.js";
import { sleep, type Proc } from "../test/faults/procs.js";
import { openRawReader } from "../test/faults/raw.js";
import { machine, saveReport, writeSection } from "../test/faults/report.js";
import { startFaultStack } from "../test/faults/stack.js";
import { BuyerFleet } from "./load/buyer-fleet.js";
import { cpuDelta, cpuSnapshot } from "./load/cpu.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "5000" },
    providers: { type: "string", default: "50" },
    docker: { type: "string", default: "2" },
    /** Near what the pipeline sustains: faster only queues bids until they expire. */
    rate: { type: "string", default: "2" },
    /** Default: the no-op providers spread over one process per core. */
    "per-process": { type: "string" },
    buyers: { type: "string", default: "4" },
    "build-threads": { type: "string", default: "1" },
    slots: { type: "string", default: "4" },
    "run-ms": { type: "string", default: "1000" },
    /** Escrow deadline after each bid: a job not paid by then is refunded by its buyer. */
    "deadline-min": { type: "string", default: "60" },
  },
});
const ROOT = new URL("../", import.meta.url).pathname;
const JOBS = Number(values.jobs);
const PROVIDERS = Number(values.providers);
const DOCKER = Math.min(Number(values.docker), PROVIDERS);
const RATE = Number(values.rate);
const DEADLINE_MS = Number(values["deadline-min"]) * 60_000;
const EXPIRES_IN_MS = Math.max(60_000, DEADLINE_MS / 2);
const PER_PROCESS = Number(values["per-process"] ?? Math.max(1, Math.ceil((PROVIDERS - DOCKER) / availableParallelism())));
const BUYERS = Number(values.buyers);
process.env.NTX_NOOP_BUILD_THREADS = values["build-threads"];

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const dist = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: pct(xs, 100) });
const ms = (x: number | null) => (x === null ? "–" : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

// Ctrl-C stops the run and everything it started.
let stopping: (() => Promise<void>) | undefined;
process.once("SIGINT", () => void (stopping ?? (async () => undefined))().finally(() => process.exit(130)));
process.once("SIGTERM", () => void (stopping ?? (async () => undefined))().finally(() => process.exit(143)));

const t0 = Date.now();
const loadAtStart = machine();
console.error(`[load] ${JOBS} jobs, ${PROVIDERS} providers (${DOCKER} Docker, ${PROVIDERS - DOCKER} no-op, ${PER_PROCESS} no-op per process), ${RATE} bids/s; ${loadAtStart}`);
const stack = await startFaultStack({
  matchers: 2,
  noopProviders: PROVIDERS - DOCKER,
  dockerProviders: DOCKER,
  noopPerProcess: PER_PROCESS,
  noopRunMs: Number(values["run-ms"]),
  slotsPerProvider: Number(values.slots),
  confirmWindowMs: 30_000,
  offerIntervalMs: 5_000,
  pollIntervalMs: 2_000,
});
stopping = () => stack.close();
const peakMemory: Record<string, number> = {};
const sampler = setInterval(() => {
  for (const [k, v] of Object.entries(stack.memory())) peakMemory[k] = Math.max(peakMemory[k] ?? 0, v);
}, 5_000);
let exitCode = 1;
try {
  const raw = await openRawReader(stack.nats.url);
  const js = jetstream(raw.nc, { timeout: 20_000 });
  const buyerOptions = {
    deadlineMs: DEADLINE_MS,
    expiresInMs: EXPIRES_IN_MS,
    jobMaxDurationMs: 10_000,
    command: (n: number) => ["sh", "-c", `echo ${n} > /out/r.txt`],
    lockBatch: 60,
    publish: async (jobHash: string, body: string) => void (await js.publish(`ntx.bids.${jobHash}`, body, { msgID: jobHash })),
  };
  const buyers = new BuyerFleet(Array.from({ length: BUYERS }, () => new Buyers(stack, raw, buyerOptions)));
  // Each escrow takes a few ADA of min-ADA until it settles; NTX for every price.
  await buyers.fund(BigInt(Math.max(2_000, JOBS * 4)) * 1_000_000n, BigInt(JOBS) * 100_000n);
  const before = new Map(await Promise.all(stack.providers.map(async (p) => [p.providerId, await buyers.ntxBalance(p.payoutAddress)] as const)));
  const upMs = Date.now() - t0;
  console.error(`[load] up in ${(upMs / 1000).toFixed(0)} s; posting`);

  const pids: Record<string, number | undefined> = { "nats-server": stack.nats.pid(), "devnet-chain": stack.devnet.pid, api: stack.api.pid };
  for (const p of [...stack.matchers, ...stack.providers, ...(stack.dockerProxy ? [stack.dockerProxy] : [])]) pids[p.name] = p.pid;
  const cpuBefore = cpuSnapshot(pids);
  const loops = buyers.runLoops(1_000);
  const postStart = Date.now();
  for (let i = 0; i < JOBS; i++) {
    await buyers.postBid();
    const due = postStart + ((i + 1) * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    if ((i + 1) % 500 === 0) console.error(`[load] ${i + 1} bids posted`);
  }
  const postedMs = Date.now() - postStart;
  console.error(`[load] all bids posted in ${(postedMs / 1000).toFixed(0)} s; waiting for payouts`);
  // Every job paid or refunded, waited for as long as jobs keep settling: Completed escrows are the providers' money
  // and claimed however late; a fixed wait after the deadline cut a 5,000-job run short with 137 claims on their way.
  // The wait ends when nothing is open, or nothing settled for STALL_MS after the last deadline has passed.
  const STALL_MS = 5 * 60_000;
  const lastDeadline = Math.max(...[...buyers.jobs.values()].map((j) => j.deadline));
  let lastReport = 0;
  let settledBefore = -1;
  let progressAt = Date.now();
  for (;;) {
    const onChain = await buyers.escrows().catch(() => undefined);
    const jobs = [...buyers.jobs.values()];
    // A job never locked is open only until its bid has expired and a last lock window passed (then it never will be).
    const open = onChain && jobs.filter((j) => (j.lock === "locked" ? onChain.has(j.jobHash) : Date.now() < j.postedAt + EXPIRES_IN_MS + 120_000));
    if (open) {
      const settled = jobs.length - open.length;
      if (settled > settledBefore) [settledBefore, progressAt] = [settled, Date.now()];
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        const completed = open.filter((j) => onChain.get(j.jobHash)?.some((e) => e.datum.state.kind === "completed")).length;
        console.error(`[load] ${settled}/${jobs.length} settled (${jobs.filter((j) => j.lock === "locked").length} locked, ${completed} open escrows completed and not yet claimed)`);
      }
      if (open.length === 0) break;
    }
    if (Date.now() > lastDeadline + 3 * 60_000 && Date.now() - progressAt > STALL_MS) {
      console.error(`[load] nothing settled for ${STALL_MS / 60_000} min after the last deadline; ${open?.length ?? "?"} jobs still open`);
      break;
    }
    await sleep(3_000);
  }
  const doneAt = Date.now();
  await loops.stop();

  const cpuSeconds = cpuDelta(cpuBefore, cpuSnapshot(pids));
  const v = await verdict(stack, raw, buyers.asBuyer(), before);
  const bids = await raw.stream("NTX_BIDS");
  const bidTime = new Map(bids.map((b) => [b.subject.slice("ntx.bids.".length), b.time]));
  const records = await raw.jobRecords([...buyers.jobs.keys()]);
  const matchTime = new Map<string, number>();
  for (const m of v.matches) matchTime.set(String(m.json?.matchId), m.time);
  const firstMatch = new Map<string, number>();
  for (const m of v.matches) {
    const h = String(m.json?.jobHash);
    if (!firstMatch.has(h)) firstMatch.set(h, m.time);
  }
  const started = new Map<string, number>();
  const output = new Map<string, number>();
  const paidAt = new Map<string, number>();
  for (const e of v.events) {
    const h = String(e.json?.jobHash);
    const kind = e.json?.kind;
    if ((kind === "started" || kind === "running") && !started.has(h)) started.set(h, e.time);
    if (kind === "output" && !output.has(h)) output.set(h, e.time);
    if (kind === "completed" && typeof e.json?.message === "string" && e.json.message.startsWith("claimed")) paidAt.set(h, e.time);
  }
  const phases = { bidToMatch: [] as number[], matchToLock: [] as number[], lockToRunning: [] as number[], doneToPaid: [] as number[], bidToPaid: [] as number[] };
  for (const j of buyers.jobs.values()) {
    const h = j.jobHash;
    const b = bidTime.get(h);
    const m = firstMatch.get(h);
    if (b !== undefined && m !== undefined) phases.bidToMatch.push(m - b);
    const confirmedMatch = matchTime.get(String(records.get(h)?.matchId));
    if (confirmedMatch !== undefined && j.lockedAt) phases.matchToLock.push(j.lockedAt - confirmedMatch);
    if (j.lockedAt && started.has(h)) phases.lockToRunning.push(started.get(h)! - j.lockedAt);
    if (output.has(h) && paidAt.has(h)) phases.doneToPaid.push(paidAt.get(h)! - output.get(h)!);
    if (b !== undefined && paidAt.has(h)) phases.bidToPaid.push(paidAt.get(h)! - b);
  }
  const paidTimes = [...paidAt.values()];
  const spanMs = paidTimes.length ? Math.max(...paidTimes) - postStart : 0;
  clearInterval(sampler);
  for (const [k, x] of Object.entries(stack.memory())) peakMemory[k] = Math.max(peakMemory[k] ?? 0, x);
  const lost = losses(v);
  const summary = {
    jobs: JOBS,
    buyers: BUYERS,
    providers: { total: PROVIDERS, docker: DOCKER, noop: PROVIDERS - DOCKER, noopPerProcess: PER_PROCESS, slots: Number(values.slots), noopRunMs: Number(values["run-ms"]) },
    rateAsked: RATE,
    machineAtStart: loadAtStart,
    machineAtEnd: machine(),
    upMs,
    postedMs,
    postedPerSecond: +(JOBS / (postedMs / 1000)).toFixed(1),
    settledMs: doneAt - postStart,
    paid: v.paid,
    refunded: v.refunded,
    neverLocked: v.neverLocked,
    bidsExpired: v.bidsExpired.length,
    bidsWaiting: v.bidsWaiting.length,
    paidPerSecond: spanMs ? +(v.paid / (spanMs / 1000)).toFixed(2) : 0,
    phasesMs: Object.fromEntries(Object.entries(phases).map(([k, xs]) => [k, dist(xs)])),
    peakMemoryMiB: peakMemory,
    cpuSecondsFromFirstBid: cpuSeconds,
    cpuMsPerPaidJob: v.paid ? Object.fromEntries(Object.entries(cpuSeconds).map(([k, x]) => [k, Math.round((1000 * x) / v.paid)])) : {},
    lost: Object.fromEntries(Object.entries(lost).map(([k, l]) => [k, l.length])),
    lostExamples: Object.fromEntries(Object.entries(lost).filter(([, l]) => l.length).map(([k, l]) => [k, l.slice(0, 5)])),
    buyerErrors: buyers.errors.slice(0, 20),
  };
  console.log(JSON.stringify(summary, null, 2));
  // Each process's last output, to find the cause of anything lost, refunded or slow.
  await mkdir(join(ROOT, "reports", "load-logs"), { recursive: true });
  for (const p of new Set([...stack.matchers, ...stack.providers.map((x) => Object.getPrototypeOf(x) as Proc), stack.api])) {
    await writeFile(join(ROOT, "reports", "load-logs", `${p.name}.log`), p.log());
  }
  await saveReport("load", summary);
  const procs = [...new Set([...Object.keys(peakMemory), ...Object.keys(cpuSeconds)])].sort((a, b) => a.localeCompare(b));
  const cpuTotal = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
  const written = await writeSection(
    "load",
    [
      `Run ${new Date().toISOString().slice(0, 16)}Z: \`npm run test:load -- ${process.argv.slice(2).join(" ") || `--jobs=${JOBS}`}\`, ${BUYERS} buyer wallets, ${PROVIDERS} providers (${DOCKER} running jobs in Docker, ${PROVIDERS - DOCKER} on the no-op runner, ${PER_PROCESS} no-op providers per Node process, ${values.slots} jobs each at once, ${values["build-threads"]} tx-build thread(s) per no-op process), 2 matchers, one nats-server, the devnet chain (a block a second).`,
      `Machine at start: ${loadAtStart}. At end: ${summary.machineAtEnd}.`,
      "",
      `- ${JOBS} bids posted in ${(postedMs / 1000).toFixed(0)} s (${summary.postedPerSecond}/s, asked ${RATE}/s); ${v.paid} paid by batched claims, ${v.refunded} refunded, ${v.neverLocked} never locked (${v.bidsExpired.length} expired unmatched, ${v.bidsWaiting.length} waiting after every fitting provider let them lapse); all settled ${(summary.settledMs / 1000).toFixed(0)} s after the first bid.`,
      `- Throughput to payout: ${summary.paidPerSecond} jobs/s (paid jobs over first bid → last claim).`,
      `- Lost or doubled: ${Object.entries(summary.lost).map(([k, n]) => `${k} ${n}`).join(", ")}.`,
      "",
      "| phase | n | p50 | p90 | p99 | max |",
      "|---|---|---|---|---|---|",
      ...Object.entries(summary.phasesMs).map(([k, d]) => `| ${k} | ${d.n} | ${ms(d.p50)} | ${ms(d.p90)} | ${ms(d.p99)} | ${ms(d.max)} |`),
      "",
      "done→paid includes the wait the escrow imposes: Complete's completedAt is its validity's upper bound (60 s ahead), and a claim may come only after completedAt plus the 2 s challenge window.",
      "",
      `CPU over the run (first bid → all settled, ${(summary.settledMs / 1000).toFixed(0)} s; the machine's other users not counted): ${cpuTotal.toFixed(0)} CPU s, ${v.paid ? Math.round((1000 * cpuTotal) / v.paid) : "–"} ms per paid job.`,
      "",
      "| process | peak RSS (MiB) | CPU s over the run | CPU ms per paid job |",
      "|---|---|---|---|",
      ...procs.map((k) => `| ${k} | ${peakMemory[k] ?? "–"} | ${cpuSeconds[k] ?? "–"} | ${summary.cpuMsPerPaidJob[k] ?? "–"} |`),
    ].join("\n"),
  );
  if (written) console.error("[load] docs/RELIABILITY.md updated");
  exitCode = Object.values(lost).every((l) => l.length === 0) && v.paid > 0 ? 0 : 1;
  await raw.close();
} finally {
  clearInterval(sampler);
  await stack.close();
}
process.exit(exitCode);
