/*
 * `npx tsx scripts/bench/eval-scaling.ts <dump.json>...`: where a batch claim's local evaluation goes. Each dump is
 * a claim built by `BENCH_ESCROW_DUMP=<file> npx tsx scripts/bench/escrow.ts --probe-claim N` (the transaction and
 * the UTxOs it reads). The transaction is evaluated by Lucid's evaluator (`eval_phase_two_raw`, the call Lucid's
 * complete() makes) as built, and with the escrow script swapped for small probe scripts in the resolved UTxOs
 * (the ledger's script lookup is by the input's address, which the evaluator takes from the UTxOs it is given), so
 * the cost of one spend can be compared across batch sizes and spend shapes in one process. CPU time of this
 * process, median of a few runs.
 */
import { CML, applyDoubleCborEncoding } from "@lucid-evolution/lucid";
import type { Script } from "@lucid-evolution/lucid";
import { bytesToHex } from "@noble/hashes/utils";
import { evaluate, load, swapScript, withRedeemers } from "./eval-direct.js";
import { cborBytes, compileProbeFlat } from "../../contracts/blueprint.js";
import { probeScripts } from "../../contracts/probes.js";

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const runs = Number(process.env.EVAL_RUNS ?? 3);
const only = process.env.EVAL_PROBES?.split(",");
// Warm the evaluator's memory first (the detached-buffer fault of a fresh process: docs/DECISIONS.md).
const files = process.argv.slice(2);
const dumps = files.map(load);
const biggest = dumps.at(-1)!;
try {
  await evaluate(biggest, withRedeemers(biggest.cbor, () => true), biggest.utxos);
} catch {
  /* the first large evaluation of a fresh process may fault; the runs below are measured after it */
}
// The batch script's credential: the one withdrawal of the claim.
const wdrl = CML.Transaction.from_cbor_hex(biggest.cbor).body().withdrawals()!.keys().get(0).payment().as_script()!.to_hex();
const probes = Object.entries(probeScripts(wdrl)).filter(([name]) => !only || only.includes(name));
const rows: Record<string, unknown>[] = [];
for (const [i, d] of dumps.entries()) {
  const spends = d.utxos.filter((u) => u.address === d.escrowAddress).length;
  const row: Record<string, unknown> = { file: files[i], escrows: spends };
  const timed = async (tx: Uint8Array, utxos: typeof d.utxos) => {
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) ms.push((await evaluate(d, tx, utxos)).ms);
    return median(ms);
  };
  const real = (keep: (t: number) => boolean) => timed(withRedeemers(d.cbor, keep), d.utxos);
  if (!only || only.includes("real")) {
    row.wholeMs = await real(() => true);
    row.batchRunMs = await real((t) => t === 3);
    row.spendsMs = await real((t) => t === 0);
    row.perSpendMs = Math.round(((row.spendsMs as number) / spends) * 100) / 100;
  }
  for (const [name, term] of probes) {
    const script: Script = { type: "PlutusV3", script: applyDoubleCborEncoding(bytesToHex(cborBytes(compileProbeFlat(name, term)))) };
    const utxos = swapScript(d, script);
    const ms = await timed(withRedeemers(d.cbor, (t) => t === 0), utxos);
    row[`${name}PerSpendMs`] = Math.round((ms / spends) * 100) / 100;
  }
  rows.push(row);
  console.error(JSON.stringify(row));
}
console.log(JSON.stringify(rows, null, 2));
