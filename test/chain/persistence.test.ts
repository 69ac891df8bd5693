import { mkdtemp, readdir, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, produceDevnetBlock, requestDevnetFunds, scriptAddress, type Chain } from "../../offchain/chain/index.js";
import { startDevnetServer } from "../../offchain/devnet/index.js";
import { isNtxError } from "../../offchain/errors.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { alwaysTrue } from "./test-scripts.js";

// The chain survives its process: a killed server (no chance to save) comes back with every UTxO, datum,
// transaction, pending submission and the block height, and its devnet NTX policy unchanged.
describe("devnet chain state on disk", () => {
  let devnet: TestDevnet;
  let chain: Chain;
  const aliceKey = newPrivateKey();
  const alice = addressOfPrivateKey(aliceKey, "devnet");
  const bob = addressOfPrivateKey(newPrivateKey(), "devnet");

  beforeAll(async () => {
    devnet = await startTestDevnet({ mode: "child" });
    chain = devnet.chain();
    await devnet.fund(alice, 50_000_000n, 700n);
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("a SIGKILLed server restarts with everything it had acknowledged", async () => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const datum = "d8799f4474657374ff"; // Constr 0 [b"test"]
    const lock = await (await lucid.newTx().pay.ToContract(scriptAddress(alwaysTrue, "devnet"), { kind: "inline", value: datum }, { lovelace: 2_000_000n }).complete()).sign.withWallet().complete();
    const confirmed = await chain.submit(lock.toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(confirmed);
    // One more accepted but not yet in a block: the mempool is part of the state too.
    const pay = await (await lucid.newTx().pay.ToAddress(bob, { lovelace: 3_000_000n, [devnet.info.ntx.unit]: 200n }).complete()).sign.withWallet().complete();
    const pending = await chain.submit(pay.toCBOR());
    const before = { tip: await chain.tip(), alice: await chain.utxosAt(alice), info: devnet.info };

    await devnet.crashAndRestart();

    expect(devnet.info.ntx).toEqual(before.info.ntx);
    expect(devnet.info.slotConfig).toEqual(before.info.slotConfig);
    expect(devnet.info.faucetAddress).toBe(before.info.faucetAddress);
    const after = devnet.chain();
    expect((await after.tip()).height).toBe(before.tip.height);
    expect(await after.utxosAt(alice)).toEqual(before.alice);
    expect((await after.txStatus(confirmed)).state).toBe("confirmed");
    const [locked] = await after.utxosAt(scriptAddress(alwaysTrue, "devnet"));
    expect(locked?.datum).toBe(datum);
    // Blockfrost reports the hash of an inline datum too; the datum is retrievable by it after the restart.
    const rows = (await (await fetch(`${devnet.url}/addresses/${scriptAddress(alwaysTrue, "devnet")}/utxos`)).json()) as Array<{ data_hash: string }>;
    expect(rows[0]?.data_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await after.datum(rows[0]!.data_hash)).toBe(datum);
    expect(await after.datum("00".repeat(32))).toBeUndefined();

    await devnet.block();
    const status = await after.awaitConfirmation(pending);
    expect(status.blockHeight).toBe(before.tip.height + 1);
    expect((await after.utxosAtWithUnit(bob, devnet.info.ntx.unit))[0]?.assets[devnet.info.ntx.unit]).toBe(200n);
    // The faucet's own chain of change outputs survived too: it can still pay.
    await devnet.fund(bob, 5_000_000n, 1n);
  });

  it("keeps the state file and keys owner-only and leaves no temporary files", async () => {
    const dir = dirname(devnet.stateFile);
    for (const file of ["state.json", "faucet.skey", "ntx-policy.skey"]) {
      expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    }
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("devnet chain refuses a state it cannot trust", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ntx-devnet-bad-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a corrupted state file is DEVNET_STATE_INVALID, a lost policy key is DEVNET_KEY_MISSING", async () => {
    const stateFile = join(dir, "state.json");
    const server = await startDevnetServer({ stateFile, blockTimeMs: 0 });
    const { txHash } = await requestDevnetFunds(server.url, { address: addressOfPrivateKey(newPrivateKey(), "devnet"), lovelace: 2_000_000n, ntx: 1n });
    await produceDevnetBlock(server.url);
    await server.close();
    expect(txHash).toMatch(/^[0-9a-f]{64}$/);

    await unlink(join(dir, "ntx-policy.skey"));
    const missing = await startDevnetServer({ stateFile, blockTimeMs: 0 }).catch((e: unknown) => e);
    expect(isNtxError(missing, "DEVNET_KEY_MISSING")).toBe(true);

    await writeFile(stateFile, '{"version":1,"network":"devnet"}');
    const invalid = await startDevnetServer({ stateFile, blockTimeMs: 0 }).catch((e: unknown) => e);
    expect(isNtxError(invalid, "DEVNET_STATE_INVALID")).toBe(true);
    expect((invalid as Error).message).toContain(stateFile);
  });
});
