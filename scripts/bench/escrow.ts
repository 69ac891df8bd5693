/*
 * `npm run bench:escrow`: prints a JSON report on the escrow validator with mainnet protocol parameters:
 * script size, ex-units of every path (and % of the per-transaction maximum), fees, build times, and the largest
 * number of escrows one Claim transaction can settle. All on Lucid's Emulator with local UPLC evaluation.
 * Build times depend on this machine (shared, 2 cores): compare them with each other, not across machines.
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { MAINNET_PROTOCOL_PARAMETERS, txFacts, type TxSignBuilder } from "../../offchain/emulator.js";
import {
  MAINNET_NTX,
  buildAcceptTx,
  buildCancelTx,
  buildClaimTx,
  buildCompleteTx,
  buildDisputeTx,
  buildLockTx,
  buildRefundTx,
  buildResolveTx,
  encodeEscrowDatum,
  escrowScript,
  getEscrowUtxo,
  readEscrowUtxos,
  signCompletionProof,
  type EscrowUtxo,
} from "../../offchain/index.js";
import { CML } from "@lucid-evolution/lucid";
import { evaluate } from "./eval-direct.js";
import { createEscrowWorld, randomHex, type EscrowWorld, type Role } from "../../test/helpers/emulator.js";
import { createLeaseWorld } from "../../test/helpers/lease.js";
import {
  MAX_LEASE_CLAIM_BATCH,
  buildLeaseClaimTx,
  buildLeaseCloseTx,
  buildLeaseOpenTx,
  buildLeaseSettleTx,
  buildLeaseTopUpTx,
  getLeaseUtxo,
  leaseScript,
  readLeases,
  type LeaseUtxo,
} from "../../offchain/index.js";

const MAX_MEM = Number(MAINNET_PROTOCOL_PARAMETERS.maxTxExMem);
const MAX_STEPS = Number(MAINNET_PROTOCOL_PARAMETERS.maxTxExSteps);
const progress = (message: string) => process.stderr.write(`[bench:escrow] ${message}\n`);
const pct = (x: number, of: number) => Math.round((x / of) * 10_000) / 100;

interface PathReport {
  path: string;
  scriptRuns: number;
  mem: number;
  steps: number;
  memPctOfTxMax: number;
  stepsPctOfTxMax: number;
  feeLovelace: string;
  feeAda: number;
  txBytes: number;
  buildMs: number;
  /** CPU time of this process during the build (less sensitive to the shared machine's load than wall time). */
  buildCpuMs: number;
  usesReferenceScript: boolean;
}

async function measure(w: EscrowWorld, path: string, build: () => Promise<TxSignBuilder>): Promise<{ report: PathReport; tx: TxSignBuilder }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const tx = await build();
  const buildMs = Math.round(performance.now() - t0);
  const cpu = process.cpuUsage(c0);
  const buildCpuMs = Math.round((cpu.user + cpu.system) / 1000);
  const facts = txFacts(tx);
  // Only script spends carry a reference or inline script; an evaluation failure must fail the bench, not read as 0.
  const redeemers = facts.inlineScripts + facts.referenceInputs > 0 ? await w.emulator.evaluateTx(facts.cbor) : [];
  const mem = redeemers.reduce((s, r) => s + Number(r.ex_units.mem), 0);
  const steps = redeemers.reduce((s, r) => s + Number(r.ex_units.steps), 0);
  return {
    tx,
    report: {
      path,
      scriptRuns: redeemers.length,
      mem,
      steps,
      memPctOfTxMax: pct(mem, MAX_MEM),
      stepsPctOfTxMax: pct(steps, MAX_STEPS),
      feeLovelace: facts.fee.toString(),
      feeAda: Number(facts.fee) / 1e6,
      txBytes: facts.sizeBytes,
      buildMs,
      buildCpuMs,
      usesReferenceScript: redeemers.length === 0 || (facts.inlineScripts === 0 && facts.referenceInputs > 0),
    },
  };
}

async function run(w: EscrowWorld, role: Role, path: string, build: () => Promise<TxSignBuilder>, coSigners: Role[] = []) {
  const { report, tx } = await measure(w, path, build);
  const txHash = await w.submit(role, tx, coSigners);
  return { report, txHash };
}

async function completeOne(w: EscrowWorld, escrow: EscrowUtxo, validForMs = 10_000, submitter: Role = "provider") {
  const resultHash = randomHex(32);
  const signature = await signCompletionProof(w.proofWallet, { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
  return () => buildCompleteTx(w.as(submitter), { deployment: w.deployment, escrow, resultHash, signature, now: w.emulator.now(), validForMs });
}

async function singlePaths(): Promise<PathReport[]> {
  const w = await createEscrowWorld();
  const reports: PathReport[] = [];
  const lockJob = () => w.job({ amount: 100_000_000n, challengeWindow: 60_000, deadline: w.emulator.now() + 3_600_000 });
  const lock = await run(w, "requester", "lock", () => buildLockTx(w.as("requester"), { script: w.script, jobs: [lockJob()], now: w.emulator.now() }));
  reports.push(lock.report);
  const lock5 = await run(w, "requester", "lock (5 jobs)", () =>
    buildLockTx(w.as("requester"), { script: w.script, jobs: Array.from({ length: 5 }, lockJob), now: w.emulator.now() }),
  );
  reports.push(lock5.report);
  const escrows = [await getEscrowUtxo(w.lucid, w.script, { txHash: lock.txHash, outputIndex: 0 })];
  for (let i = 0; i < 5; i++) escrows.push(await getEscrowUtxo(w.lucid, w.script, { txHash: lock5.txHash, outputIndex: i }));
  const [e0, e1, e2, e3, e4, e5] = escrows as [EscrowUtxo, EscrowUtxo, EscrowUtxo, EscrowUtxo, EscrowUtxo, EscrowUtxo];

  const completed: EscrowUtxo[] = [];
  for (const [i, e] of [e0, e1, e2].entries()) {
    const c = await run(w, "provider", "complete", await completeOne(w, e));
    if (i === 0) reports.push(c.report);
    completed.push(await getEscrowUtxo(w.lucid, w.script, { txHash: c.txHash, outputIndex: 0 }));
  }
  const [c0, c1, c2] = completed as [EscrowUtxo, EscrowUtxo, EscrowUtxo];
  const accept = await run(w, "requester", "accept", () => buildAcceptTx(w.as("requester"), { deployment: w.deployment, escrow: c1 }));
  reports.push(accept.report);
  const dispute = await run(w, "requester", "dispute", () => buildDisputeTx(w.as("requester"), { deployment: w.deployment, escrow: c2, now: w.emulator.now() }));
  reports.push(dispute.report);
  const disputed = await getEscrowUtxo(w.lucid, w.script, { txHash: dispute.txHash, outputIndex: 0 });
  const resolve = await run(w, "arbiter", "resolve", () => buildResolveTx(w.as("arbiter"), { deployment: w.deployment, escrow: disputed, providerShare: 40_000_000n }));
  reports.push(resolve.report);
  const cancel = await run(w, "requester", "cancel", () => buildCancelTx(w.as("requester"), { deployment: w.deployment, escrow: e3 }), ["provider"]);
  reports.push(cancel.report);
  w.emulator.awaitSlot(120);
  const claim = await run(w, "provider", "claim", () => buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: [c0], now: w.emulator.now() }));
  reports.push(claim.report);
  w.emulator.awaitSlot(3_600);
  const refund = await run(w, "requester", "refund", () => buildRefundTx(w.as("requester"), { deployment: w.deployment, escrow: e4, now: w.emulator.now() }));
  reports.push(refund.report);
  void e5;
  return reports;
}

/**
 * `size` claimable escrows, each from a different buyer (a random requester key hash), all paying the provider.
 * They are created directly in the Completed state, 40 per transaction: what a claim costs does not depend on how
 * an escrow reached that state, and a real Complete per escrow would make each probe take minutes.
 */
async function claimablePool(size: number) {
  const w = await createEscrowWorld({ lovelacePerParty: 20_000_000_000n });
  const unit = w.ntxUnit;
  const hashes: string[] = [];
  for (let left = size; left > 0; left -= 40) {
    let tx = w.as("requester").newTx();
    for (let i = 0; i < Math.min(40, left); i++) {
      const datum = encodeEscrowDatum({
        ...w.job({ amount: 1_000_000n, challengeWindow: 1_000, requester: randomHex(28), arbiter: null }),
        arbiter: null,
        requester: randomHex(28),
        state: { kind: "completed", resultHash: randomHex(32), completedAt: w.emulator.now() - 10_000 },
      });
      tx = tx.pay.ToContract(w.script.address, { kind: "inline", value: datum }, { lovelace: 1_500_000n, [unit]: 1_000_000n });
    }
    hashes.push(await w.submit("requester", await tx.complete()));
  }
  const pool = (await readEscrowUtxos(w.lucid, w.script)).escrows;
  if (pool.length !== size) throw new Error(`pool has ${pool.length} escrows, wanted ${size}`);
  w.emulator.awaitSlot(10);
  return { w, pool };
}

/** Builds (without submitting) one claim of `n` completed escrows; null when it cannot be built within the limits. */
async function probeClaim(n: number): Promise<(PathReport & { distinctRequesters: number; providerOutputs: number }) | null> {
  const { w, pool } = await claimablePool(n);
  try {
    const { report, tx } = await measure(w, `claim x${n}`, () => buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: pool, now: w.emulator.now() }));
    // One direct evaluation of the built claim in the same process, beside its build: the build's evaluations.
    const direct = process.env.BENCH_ESCROW_DUMP ? await dumpForEvaluation(w, tx, process.env.BENCH_ESCROW_DUMP) : undefined;
    const outputs = tx.toTransaction().body().outputs();
    let providerOutputs = 0;
    for (let i = 0; i < outputs.len(); i++) if (outputs.get(i).address().to_bech32(undefined) === w.parties.provider.address) providerOutputs++;
    // One spend per escrow plus the batch run (a single escrow takes the single-escrow path: one run).
    const runs = n === 1 ? 1 : n + 1;
    const ok = report.txBytes <= MAINNET_PROTOCOL_PARAMETERS.maxTxSize && report.mem <= MAX_MEM && report.steps <= MAX_STEPS && report.scriptRuns === runs;
    // The change output is the provider's too: the grouped payout is the other one.
    return ok ? { ...report, ...(direct ? { directEvalCpuMs: direct } : {}), distinctRequesters: new Set(pool.map((e) => e.datum.requester)).size, providerOutputs: providerOutputs - 1 } : null;
  } catch (error) {
    progress(`batch claim: ${n} escrows do not fit: ${error instanceof Error ? error.message.slice(0, 160) : String(error)}`);
    return null;
  }
}

/**
 * Writes a built transaction and the UTxOs it reads, for scripts/bench/eval-scaling.ts; returns the CPU time of one
 * direct evaluation of it in this process.
 */
async function dumpForEvaluation(w: EscrowWorld, tx: TxSignBuilder, file: string) {
  const body = tx.toTransaction().body();
  const refs: { txHash: string; outputIndex: number }[] = [];
  for (const list of [body.inputs(), body.reference_inputs()]) {
    for (let i = 0; i < (list?.len() ?? 0); i++) refs.push({ txHash: list!.get(i).transaction_id().to_hex(), outputIndex: Number(list!.get(i).index()) });
  }
  const utxos = await w.lucid.utxosByOutRef(refs);
  const { writeFileSync } = await import("node:fs");
  const { SLOT_CONFIG_NETWORK } = await import("@lucid-evolution/plutus");
  const dump = { cbor: tx.toCBOR(), utxos, slotConfig: SLOT_CONFIG_NETWORK.Custom, escrowAddress: w.script.address, escrowHash: w.script.hash };
  writeFileSync(file, JSON.stringify(dump, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)));
  const tx0 = CML.Transaction.from_cbor_hex(dump.cbor).to_cbor_bytes();
  return Math.round((await evaluate(dump, tx0, utxos)).ms);
}

type Probe = Awaited<ReturnType<typeof probeClaim>>;

async function batchClaim(maxProbe: number) {
  // Each probe runs in a fresh process: Lucid's WASM heap grows with every large build and a long-lived process
  // slows down.
  /** Size Lucid reported for the last probe that overflowed the transaction size limit. */
  let overflow: { n: number; bytes: number } | null = null;
  const fits = (n: number): Probe => {
    progress(`batch claim: building ${n} escrows`);
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--probe-claim", String(n)], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const found = /Max transaction size of \d+ exceeded\. Found: (\d+)/.exec(child.stderr ?? "");
    if (found) overflow = { n, bytes: Number(found[1]) };
    // A build that overflows a limit can end the probe process from inside Lucid's effect runtime: not a fit.
    if (child.status !== 0) {
      progress(`batch claim: the probe of ${n} escrows exited with ${child.status}${found ? ` (${found[1]} bytes)` : ""}: counted as not fitting`);
      return null;
    }
    return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Probe;
  };
  // The batch run is linear in the batch: fit size, mem and steps on 25 and 50 escrows (larger batches need wider
  // indices and ex-units, so the slope from fewer escrows underestimates), predict the largest N under every limit,
  // then step from the prediction until N fits and N+1 does not.
  const one = fits(1);
  const floor = fits(25);
  const fifty = fits(50);
  if (!one || !floor || !fifty) return { maxEscrowsPerClaimTx: 0, limitedBy: "could not build the probe claims", single: one, fifty, largest: null };
  const slope = (k: "mem" | "steps" | "txBytes") => (fifty[k] - floor[k]) / 25;
  const at = (k: "mem" | "steps" | "txBytes", n: number) => fifty[k] + slope(k) * (n - 50);
  let predicted = 50;
  while (predicted < maxProbe && at("mem", predicted + 1) <= MAX_MEM && at("steps", predicted + 1) <= MAX_STEPS && at("txBytes", predicted + 1) <= MAINNET_PROTOCOL_PARAMETERS.maxTxSize) {
    predicted++;
  }
  progress(`batch claim: predicted ${predicted} escrows per transaction`);
  let best: Probe = fifty;
  let lo = 50;
  let bad = maxProbe + 1;
  let n = predicted;
  for (;;) {
    const r: Probe = n <= lo ? best : fits(n);
    if (r) {
      best = r;
      lo = n;
      if (n >= maxProbe || n + 1 >= bad) break;
      n++;
    } else {
      bad = n;
      if (n - 1 <= lo) break;
      // Jump by the bytes it was over (at the measured bytes per escrow) instead of stepping down one at a time.
      const over = overflow as { n: number; bytes: number } | null;
      const perEscrow = over && over.n === n ? (over.bytes - fifty.txBytes) / (n - 50) : 0;
      n = perEscrow > 0 ? Math.max(lo + 1, Math.min(n - 1, Math.floor(n - (over!.bytes - MAINNET_PROTOCOL_PARAMETERS.maxTxSize) / perEscrow))) : n - 1;
    }
  }
  const limitedBy = lo >= maxProbe ? "probe limit (raise BENCH_ESCROW_MAX_PROBE)" : `${bad} escrows exceed the transaction size or ex-units limit`;
  return { maxEscrowsPerClaimTx: lo, limitedBy, single: one, fifty, largest: best };
}

/** Lease paths: open, claim (one lease, and batches), top-up, close, settle; and a month of a relay lease claimed daily. */
async function leasePaths() {
  const w = await createLeaseWorld();
  const reports: PathReport[] = [];
  // A relay at 10 NTX a day (6 decimals): 115 base units a second. The fees below do not depend on the rate.
  const rate = 115n;
  const day = 86_400_000;
  const opened = await run(w, "requester", "lease open", () =>
    buildLeaseOpenTx(w.as("requester"), { script: w.lease, provider: w.parties.provider.address, asset: w.script.ntx, rate, durationMs: 31 * day, notice: day, jobHash: "00".repeat(32), now: w.emulator.now(), validForMs: 60_000 }),
  );
  reports.push(opened.report);
  let lease = await getLeaseUtxo(w.lucid, w.lease, { txHash: opened.txHash, outputIndex: 0 });
  const firstLastClaim = lease.datum.lastClaim;
  const claimFees: bigint[] = [];
  let claimedNtx = 0n;
  for (let d = 1; d <= 30; d++) {
    w.emulator.awaitSlot(day / 1000);
    const before = await w.balance("provider", w.ntxUnit);
    const claim = await run(w, "provider", "lease claim (1 lease)", () => buildLeaseClaimTx(w.as("provider"), { deployment: w.leaseDeployment, leases: [lease], now: w.emulator.now() }));
    if (d === 1) reports.push(claim.report);
    claimFees.push(BigInt(claim.report.feeLovelace));
    claimedNtx += (await w.balance("provider", w.ntxUnit)) - before;
    lease = (await readLeases(w.lucid, w.lease)).leases.find((l) => l.utxo.txHash === claim.txHash)!;
  }
  const elapsedMs = lease.datum.lastClaim - firstLastClaim;
  const topUp = await run(w, "requester", "lease top-up", () => buildLeaseTopUpTx(w.as("requester"), { deployment: w.leaseDeployment, lease, add: rate * 86_400n, now: w.emulator.now() }));
  reports.push(topUp.report);
  lease = (await readLeases(w.lucid, w.lease)).leases[0]!;
  const close = await run(w, "requester", "lease close", () => buildLeaseCloseTx(w.as("requester"), { deployment: w.leaseDeployment, lease, now: w.emulator.now() }));
  reports.push(close.report);

  const short = await w.open({ durationMs: 60_000 });
  w.emulator.awaitSlot(120);
  const settle = await run(w, "outsider", "lease settle", () => buildLeaseSettleTx(w.as("outsider"), { deployment: w.leaseDeployment, lease: short, now: w.emulator.now() }));
  reports.push(settle.report);

  const monthLovelace = BigInt(opened.report.feeLovelace) + claimFees.reduce((a, b) => a + b, 0n) + BigInt(close.report.feeLovelace);
  const batches: PathReport[] = [];
  for (const n of [10, MAX_LEASE_CLAIM_BATCH, 30]) {
    progress(`lease claim of ${n} leases`);
    batches.push(await leaseBatch(n));
  }
  const perLease = batches.map((b) => ({ leases: Number(b.path.split("x")[1]), feePerLeaseAda: Number(b.feeLovelace) / Number(b.path.split("x")[1]) / 1e6 }));
  return {
    script: { hash: leaseScript("Mainnet").hash, sizeBytes: w.lease.script.script.length / 2 - 3 },
    paths: [...reports, ...batches],
    relayMonthClaimedDaily: {
      ratePerSecond: rate.toString(),
      claims: claimFees.length,
      claimedNtxBaseUnits: claimedNtx.toString(),
      elapsedMs,
      claimedEqualsRateTimesElapsed: claimedNtx === (rate * BigInt(elapsedMs)) / 1000n,
      feesAda: { open: Number(opened.report.feeLovelace) / 1e6, claims: Number(claimFees.reduce((a, b) => a + b, 0n)) / 1e6, close: Number(close.report.feeLovelace) / 1e6 },
      totalAda: Number(monthLovelace) / 1e6,
      // The same month when the provider claims all its leases together daily (its share of a MAX_LEASE_CLAIM_BATCH claim).
      totalAdaWithClaimsBatched:
        (Number(opened.report.feeLovelace) + Number(close.report.feeLovelace)) / 1e6 + 30 * perLease.find((p) => p.leases === MAX_LEASE_CLAIM_BATCH)!.feePerLeaseAda,
    },
    batchedClaimFeePerLease: perLease,
  };
}

/** One claim of `n` leases of one provider, built (not submitted) a day after they opened. */
async function leaseBatch(n: number): Promise<PathReport> {
  const w = await createLeaseWorld();
  const leases: LeaseUtxo[] = [];
  for (let left = n; left > 0; left -= 30) leases.push(...(await w.openMany(Math.min(30, left), { rate: 115n, durationMs: 2 * 86_400_000 })));
  w.emulator.awaitSlot(86_400);
  const { report } = await measure(w, `lease claim x${n}`, () => buildLeaseClaimTx(w.as("provider"), { deployment: w.leaseDeployment, leases, now: w.emulator.now() }));
  return report;
}

async function main() {
  if (process.argv[2] === "--lease-only") {
    console.log(JSON.stringify(await leasePaths(), null, 2));
    return;
  }
  if (process.argv[2] === "--probe-claim") {
    console.log(JSON.stringify(await probeClaim(Number(process.argv[3]))));
    return;
  }
  const script = escrowScript(MAINNET_NTX, "Mainnet");
  const scriptBytes = (script.script.script.length / 2) - 3; // minus the outer CBOR wrap of Lucid's double encoding
  progress("single-escrow paths");
  const paths = await singlePaths();
  const batch = await batchClaim(Number(process.env.BENCH_ESCROW_MAX_PROBE ?? 200));
  progress("lease paths");
  const lease = await leasePaths();
  const byPath = Object.fromEntries(paths.map((p) => [p.path, p]));
  const largest = batch.largest;
  const claimPerEscrow = largest ? Number(largest.feeLovelace) / largest.scriptRuns / 1e6 : Number.NaN;
  // Per job: its lock alone (the worst case; a lock of several jobs costs less each), its Complete, and its share of
  // the largest batched claim.
  const lockCompleteClaim = Number(BigInt(byPath.lock!.feeLovelace) + BigInt(byPath.complete!.feeLovelace)) / 1e6 + claimPerEscrow;
  const buildRatio = batch.fifty && batch.single ? Math.round((batch.fifty.buildMs / batch.single.buildMs) * 10) / 10 : Number.NaN;
  const spends = paths.filter((p) => p.scriptRuns > 0);
  const report = {
    bench: "escrow",
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version },
    protocolParameters: "mainnet (minFeeA 44, minFeeB 155381, priceMem 0.0577, priceStep 0.0000721, refScript 15/byte, coinsPerUtxoByte 4310)",
    script: { mainnetHash: script.hash, sizeBytes: scriptBytes, budgetBytes: 2_500 },
    paths,
    batchClaim: {
      ...batch,
      claimFeePerEscrowAdaAtLargest: claimPerEscrow,
      buildMs50: batch.fifty?.buildMs,
      buildMsSingle: batch.single?.buildMs,
      buildRatio50ToSingle: buildRatio,
    },
    lease,
    floors: {
      leasePathsMemPctMax: Math.max(...lease.paths.filter((p) => !p.path.includes(" x")).map((p) => p.memPctOfTxMax)),
      leasePathsStepsPctMax: Math.max(...lease.paths.filter((p) => !p.path.includes(" x")).map((p) => p.stepsPctOfTxMax)),
      leaseBatchOfMaxFits: lease.paths.some((p) => p.path === `lease claim x${MAX_LEASE_CLAIM_BATCH}` && p.memPctOfTxMax <= 100 && p.stepsPctOfTxMax <= 100 && p.txBytes <= MAINNET_PROTOCOL_PARAMETERS.maxTxSize),
      scriptSizeOk: scriptBytes <= 2_500,
      everySingleEscrowPathMemPctMax: Math.max(...spends.map((p) => p.memPctOfTxMax)),
      everySingleEscrowPathStepsPctMax: Math.max(...spends.map((p) => p.stepsPctOfTxMax)),
      memOk: spends.every((p) => p.memPctOfTxMax <= 1),
      stepsOk: spends.every((p) => p.stepsPctOfTxMax <= 1),
      spendsUseReferenceScript: spends.every((p) => p.usesReferenceScript),
      lockCompleteClaimPerJobAda: lockCompleteClaim,
      lockCompleteClaimPerJobOk: lockCompleteClaim <= 0.5,
      batchClaimOk: batch.maxEscrowsPerClaimTx >= 100 && (largest?.distinctRequesters ?? 0) === batch.maxEscrowsPerClaimTx,
      claimFeePerEscrowOk: claimPerEscrow <= 0.025,
      buildRatio50Ok: buildRatio <= 25,
      build50WithinTenSeconds: (batch.fifty?.buildMs ?? Infinity) <= 10_000,
    },
  };
  console.log(JSON.stringify(report, null, 2));
}

await main();
