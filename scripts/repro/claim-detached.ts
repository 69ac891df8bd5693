/**
 * Tries to reproduce "Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer" (seen twice in a
 * 60-escrow claim build): builds claims of 50 to 80 escrows again and again on one tx-build thread (as the daemon
 * does, the thread and its evaluator reused across builds) and, with REPRO_INLINE=1, on this thread instead.
 * Prints each build's size, outcome and the thread's heap; nothing is submitted. Usage:
 *   npx tsx scripts/repro/claim-detached.ts [rounds]
 */
import { createTxBuildPool } from "../../src/runtime/tx-pool/pool.js";
import { runBuilder } from "../../src/runtime/tx-pool/builders.js";
import { startTestDevnet } from "../../test/helpers/devnet.js";
import { devnetClaimWorld, payClaimableEscrows } from "../../test/helpers/devnet-escrows.js";

const rounds = Number(process.argv[2] ?? 12);
const inline = process.env.REPRO_INLINE === "1";
const devnet = await startTestDevnet({ blockTimeMs: 1000 });
const world = await devnetClaimWorld(devnet);
const escrows = await payClaimableEscrows(devnet, world, 80);
const chain = world.chain;
const pool = createTxBuildPool(chain, { workers: inline ? 0 : 1, queue: 2, timeoutMs: 900_000 });
const wallet = { address: world.address, utxos: await world.lucid.wallet().getUtxos() };
const d = world.deployment;
const refs = d.batchReferenceUtxo ? { referenceUtxo: d.referenceUtxo, batchReferenceUtxo: d.batchReferenceUtxo } : { referenceUtxo: d.referenceUtxo };
const sizes = (process.env.REPRO_SIZES ?? "60,50,70,80,60,55,65,75").split(",").map(Number);
let failures = 0;
for (let i = 0; i < rounds; i++) {
  const n = sizes[i % sizes.length]!;
  const started = Date.now();
  try {
    const built = await pool.build("claim", { wallet, ntx: d.script.ntx, refs, escrows: escrows.slice(0, n), now: Date.now() });
    console.log(`round ${i} ${inline ? "inline" : "thread"} ${n} escrows ok ${Date.now() - started} ms, ${built.tx.length / 2} bytes`);
  } catch (error) {
    failures++;
    console.log(`round ${i} ${n} escrows FAILED after ${Date.now() - started} ms: ${(error as Error).message}`);
  }
}
void runBuilder;
console.log(`${failures} failures in ${rounds} builds`);
await pool.close();
await devnet.stop();
