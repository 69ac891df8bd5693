import { BlockFrostAPI, BlockfrostServerError } from "@blockfrost/blockfrost-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, scriptAddress, type Chain } from "../../offchain/chain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { alwaysTrue, VOID_DATA } from "./test-scripts.js";

// The devnet answers blockfrost-js itself (not only our wrapper) in Blockfrost's shapes, 404s included.
describe("devnet chain speaks Blockfrost to blockfrost-js", () => {
  let devnet: TestDevnet;
  let chain: Chain;
  let api: BlockFrostAPI;
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  let refTx = "";
  let spendCbor = "";

  beforeAll(async () => {
    devnet = await startTestDevnet();
    chain = devnet.chain();
    api = new BlockFrostAPI({ customBackend: devnet.url, rateLimiter: false });
    await devnet.fund(address, 80_000_000n, 42n);
    const lucid = await chain.lucid({ privateKey: key });
    // A reference script plus a datum-carrying output, so scripts and datums can be looked up.
    const tx = await lucid
      .newTx()
      .pay.ToAddressWithData(address, { kind: "inline", value: VOID_DATA }, { lovelace: 20_000_000n }, alwaysTrue)
      .pay.ToContract(scriptAddress(alwaysTrue, "devnet"), { kind: "inline", value: VOID_DATA }, { lovelace: 3_000_000n })
      .complete();
    refTx = await chain.submit((await tx.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(refTx);
    const [locked] = await chain.utxosAt(scriptAddress(alwaysTrue, "devnet"));
    const spend = await lucid.newTx().collectFrom([locked!], VOID_DATA).attach.SpendingValidator(alwaysTrue).complete();
    spendCbor = (await spend.sign.withWallet().complete()).toCBOR();
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("genesis, protocol parameters and blocks", async () => {
    const genesis = await api.genesis();
    expect(genesis.system_start * 1000).toBe(devnet.info.slotConfig.zeroTime);
    expect(genesis.slot_length).toBe(1);
    const pp = await api.epochsLatestParameters();
    expect(Number(pp.max_tx_ex_mem)).toBeGreaterThan(0);
    expect(pp.coins_per_utxo_size).toBe("4310");
    expect(Object.keys(pp.cost_models_raw ?? {})).toEqual(expect.arrayContaining(["PlutusV1", "PlutusV2", "PlutusV3"]));
    const latest = await api.blocksLatest();
    const byHash = await api.blocks(latest.hash);
    expect(byHash).toEqual(latest);
    expect(latest.confirmations).toBe(0);
  });

  it("transactions, their UTxOs and CBOR, an address and its history, asset holders", async () => {
    const tx = await api.txs(refTx);
    expect(tx).toMatchObject({ hash: refTx, valid_contract: true, utxo_count: expect.any(Number) });
    expect(Number(tx.fees)).toBeGreaterThan(0);
    const utxos = await api.txsUtxos(refTx);
    expect(utxos.outputs[0]).toMatchObject({ address, output_index: 0, inline_datum: VOID_DATA, reference_script_hash: expect.stringMatching(/^[0-9a-f]{56}$/), consumed_by_tx: null });
    expect((await api.txsCbor(refTx)).cbor).toMatch(/^[0-9a-f]+$/);
    const info = await api.addresses(address);
    expect(info.amount.find((a) => a.unit === devnet.info.ntx.unit)?.quantity).toBe("42");
    const history = await api.addressesTransactions(address, { order: "desc" });
    expect(history[0]?.tx_hash).toBe(refTx);
    expect(await api.assetsAddresses(devnet.info.ntx.unit)).toEqual([{ address, quantity: "42" }]);
  });

  it("scripts and datums", async () => {
    const hash = (await api.txsUtxos(refTx)).outputs[0]!.reference_script_hash!;
    expect(await api.scriptsByHash(hash)).toMatchObject({ script_hash: hash, type: "plutusV3" });
    expect((await api.scriptsCbor(hash)).cbor).toMatch(/^[0-9a-f]+$/);
    const dataHash = (await api.txsUtxos(refTx)).outputs[0]!.data_hash!;
    expect((await api.scriptsDatumCbor(dataHash)).cbor).toBe(VOID_DATA);

    // A transaction that reads the reference script: its input list shows it as a reference input, by script hash.
    const lucid = await chain.lucid({ privateKey: key });
    const refUtxo = (await chain.utxosAt(address)).find((u) => u.txHash === refTx && u.outputIndex === 0)!;
    expect(refUtxo.scriptRef?.type).toBe("PlutusV3");
    const reader = await lucid.newTx().readFrom([refUtxo]).pay.ToAddress(address, { lovelace: 1_500_000n }).complete();
    const readerHash = await chain.submit((await reader.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(readerHash);
    const inputs = (await api.txsUtxos(readerHash)).inputs;
    expect(inputs.find((i) => i.reference)).toMatchObject({ tx_hash: refTx, output_index: 0, reference_script_hash: hash });
  });

  it("evaluates a transaction's scripts in Ogmios' shape", async () => {
    const result = (await api.utilsTxsEvaluate(spendCbor)) as unknown as { result: { EvaluationResult?: Record<string, { memory: number; steps: number }> } };
    const units = result.result.EvaluationResult?.["spend:0"];
    expect(units?.memory).toBeGreaterThan(0);
    expect(units?.steps).toBeGreaterThan(0);
  });

  it("answers 404 in Blockfrost's error shape for what it never saw", async () => {
    const error = await api.txs("ab".repeat(32)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockfrostServerError);
    expect((error as BlockfrostServerError).status_code).toBe(404);
    const raw = await fetch(`${devnet.url}/addresses/${addressOfPrivateKey(newPrivateKey(), "devnet")}/utxos`);
    expect(raw.status).toBe(404);
    expect(await raw.json()).toEqual({ status_code: 404, error: "Not Found", message: "The requested component has not been found." });
    // Our chain interface reads "never seen" as empty, not as a failure.
    expect(await chain.utxosAt(addressOfPrivateKey(newPrivateKey(), "devnet"))).toEqual([]);
    expect((await chain.txStatus("cd".repeat(32))).state).toBe("unknown");
  });
});
