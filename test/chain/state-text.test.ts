import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { parseWithBigints, stringifyWithBigints } from "../../offchain/devnet/json-codec.js";
import { stateFileText, type StateFile } from "../../offchain/devnet/persistence.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";

// The chain's state file is written from each transaction's remembered text: it must be exactly the text of the
// whole state, however often it is written and after a transaction's block is set.
describe("devnet chain state text", () => {
  let devnet: TestDevnet;
  beforeAll(async () => {
    devnet = await startTestDevnet();
    for (let i = 0; i < 3; i++) await devnet.fund(addressOfPrivateKey(newPrivateKey(), "devnet"), 5_000_000n, 7n);
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("is the whole state's text, written again and after a block moves a transaction", async () => {
    const state = parseWithBigints(await readFile(devnet.stateFile, "utf8")) as StateFile;
    expect(state.ledger.txs.length).toBeGreaterThanOrEqual(3);
    expect(stateFileText(state)).toBe(stringifyWithBigints(state));
    expect(stateFileText(state)).toBe(stringifyWithBigints(state));
    // A pending transaction sealed into a block afterwards (the only change a record sees), and a new one added.
    const tx = state.ledger.txs[0]!;
    tx.block = { height: 99, hash: "ab".repeat(32), slot: 1234, time: 1_234_000, index: 0 };
    state.ledger.txs.push({ ...state.ledger.txs[1]!, hash: "cd".repeat(32), fee: 2n ** 70n });
    // A live UTxO spent in the mempool (its flag flips in place) and a new one; a bigint where none is expected.
    const utxos = state.ledger.emulator.ledger as Record<string, { spent: boolean }>;
    const first = Object.values(utxos)[0]!;
    first.spent = !first.spent;
    utxos[`${"ef".repeat(32)}0`] = { ...first, spent: false };
    state.ledger.emulator.datumTable["ab".repeat(32)] = "d87980";
    (state.ledger.blocks as unknown[]).push({ height: 100, odd: 5n });
    const text = stateFileText(state);
    expect(text).toBe(stringifyWithBigints(state));
    expect(parseWithBigints(text)).toEqual(state);
  });
});
