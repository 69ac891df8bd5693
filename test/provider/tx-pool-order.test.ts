import { afterEach, describe, expect, it } from "vitest";
import { createChain } from "../../offchain/chain/index.js";
import { createTxBuildPool, type TxBuildPool } from "../../src/runtime/tx-pool/pool.js";

/*
 * The provider's Completes wait ahead of its claims on the one build thread. The order is read from outside: the
 * order in which the builds settle on a single thread (every build here fails at once on a chain nobody answers, so
 * only the order matters, never the time).
 */

let pool: TxBuildPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const params = { wallet: { address: "addr_test1nobody", utxos: [] }, ntx: { policyId: "00".repeat(28), assetName: "4e5458" }, now: 0 };

describe("tx-build pool order", () => {
  it("runs an urgent build before the ones already waiting, and urgent ones in the order asked", async () => {
    pool = createTxBuildPool(createChain({ network: "devnet", blockfrostUrl: "http://127.0.0.1:9/api/v0", requestTimeoutMs: 2_000 }), { workers: 1, queue: 10, timeoutMs: 120_000 });
    const settled: string[] = [];
    const ask = (label: string, urgent: boolean) =>
      pool!.build("lock", { ...params, jobs: [] }, { urgent }).then(
        () => settled.push(label),
        () => settled.push(label),
      );
    // All asked before the thread is up (it starts on the first build), so all wait in the queue together.
    await Promise.all([ask("claim-1", false), ask("claim-2", false), ask("complete-1", true), ask("claim-3", false), ask("complete-2", true)]);
    expect(settled).toEqual(["complete-1", "complete-2", "claim-1", "claim-2", "claim-3"]);
  }, 120_000);
});
