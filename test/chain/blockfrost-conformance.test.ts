import { BlockFrostAPI } from "@blockfrost/blockfrost-js";
import fc from "fast-check";
import { Blockfrost, CML, scriptFromNative, validatorToScriptHash, type Script, type UTxO } from "@lucid-evolution/lucid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, paymentKeyHashOfPrivateKey, scriptAddress, type Chain } from "../../offchain/chain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { startRecordingProxy, validateAnswer, type RecordedAnswer } from "./blockfrost-schema.js";
import { alwaysTrue, VOID_DATA } from "./test-scripts.js";

/**
 * The devnet chain answers as Blockfrost does, checked from outside: blockfrost-js and Lucid's own Blockfrost
 * provider drive it through a recording proxy (native and Plutus reference scripts, a datum by hash, paging,
 * every error case), and every answer it gave is validated against `@blockfrost/openapi`'s schema for that
 * endpoint and status.
 */
describe("devnet chain conforms to Blockfrost's OpenAPI document", () => {
  let devnet: TestDevnet;
  let chain: Chain;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let bf: BlockFrostAPI;
  let lucidProvider: Blockfrost;
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  const native: Script = scriptFromNative({ type: "all", scripts: [{ type: "sig", keyHash: paymentKeyHashOfPrivateKey(key) }, { type: "after", slot: 0 }] });
  const nativeHash = validatorToScriptHash(native);
  const plutusHash = validatorToScriptHash(alwaysTrue);
  const hashedDatum = "d8799f182aff"; // Constr 0 [42]
  const hashedDatumHash = CML.hash_plutus_data(CML.PlutusData.from_cbor_hex(hashedDatum)).to_hex();
  let refTx = "";

  const raw = (path: string, init?: RequestInit) => fetch(proxy.url + path, init);

  beforeAll(async () => {
    devnet = await startTestDevnet();
    chain = devnet.chain();
    proxy = await startRecordingProxy(devnet.url);
    bf = new BlockFrostAPI({ customBackend: proxy.url, rateLimiter: false, retrySettings: { limit: 0 } as never });
    lucidProvider = new Blockfrost(proxy.url, "devnet");
    await devnet.fund(address, 200_000_000n, 7n);
    const lucid = await chain.lucid({ privateKey: key });
    const tx = await lucid
      .newTx()
      .pay.ToAddressWithData(address, { kind: "inline", value: VOID_DATA }, { lovelace: 10_000_000n }, native)
      .pay.ToAddressWithData(address, { kind: "inline", value: VOID_DATA }, { lovelace: 20_000_000n }, alwaysTrue)
      .pay.ToContract(scriptAddress(alwaysTrue, "devnet"), { kind: "asHash", value: hashedDatum }, { lovelace: 3_000_000n })
      .complete();
    refTx = await chain.submit((await tx.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(refTx);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await devnet?.stop();
  });

  it("Lucid's Blockfrost provider reads native and Plutus reference scripts, datums by hash and out-refs", async () => {
    const utxos = await lucidProvider.getUtxos(address);
    const refs = (type: Script["type"]) => utxos.filter((u) => u.scriptRef?.type === type);
    expect(refs("Native")).toHaveLength(1);
    expect(validatorToScriptHash(refs("Native")[0]!.scriptRef!)).toBe(nativeHash);
    expect(refs("PlutusV3")).toHaveLength(1);
    expect(validatorToScriptHash(refs("PlutusV3")[0]!.scriptRef!)).toBe(plutusHash);
    const byRef = await lucidProvider.getUtxosByOutRef([{ txHash: refTx, outputIndex: 0 }, { txHash: refTx, outputIndex: 1 }, { txHash: refTx, outputIndex: 2 }]);
    expect(byRef.map((u: UTxO) => u.outputIndex).sort()).toEqual([0, 1, 2]);
    expect(byRef.find((u) => u.outputIndex === 2)).toMatchObject({ datumHash: hashedDatumHash });
    expect(await lucidProvider.getDatum(hashedDatumHash)).toBe(hashedDatum);
    const pp = await lucidProvider.getProtocolParameters();
    expect(pp.drepDeposit).toBeGreaterThan(0n);
    expect(await lucidProvider.getDelegation(CML.RewardAddress.new(0, CML.Credential.new_pub_key(CML.Ed25519KeyHash.from_hex(paymentKeyHashOfPrivateKey(key)))).to_address().to_bech32(undefined))).toEqual({ poolId: null, rewards: 0n });
    // A typo is not an empty wallet: Lucid's provider throws on the 400 rather than reading it as no UTxOs.
    await expect(lucidProvider.getUtxos(`${address.slice(0, -1)}x`)).rejects.toThrow();
  });

  it("blockfrost-js reads every served endpoint, pages forwards and backwards", async () => {
    await bf.root();
    await bf.health();
    await bf.healthClock();
    await bf.genesis();
    const pp = await bf.epochsLatestParameters();
    expect(pp.gov_action_lifetime).not.toBeUndefined();
    const latest = await bf.blocksLatest();
    await bf.blocks(latest.hash);
    await bf.blocks(latest.height!);
    const tx = await bf.txs(refTx);
    expect(tx.treasury_donation).toBe("0");
    await bf.txsUtxos(refTx);
    await bf.txsCbor(refTx);
    await bf.addresses(address);
    const all = await bf.addressesUtxos(address, { count: 100 });
    const first = await bf.addressesUtxos(address, { count: 1, page: 1 });
    const second = await bf.addressesUtxos(address, { count: 1, page: 2 });
    const last = await bf.addressesUtxos(address, { count: 1, page: 1, order: "desc" });
    expect(first[0]).toEqual(all[0]);
    expect(second[0]).toEqual(all[1]);
    expect(last[0]).toEqual(all[all.length - 1]);
    expect(await bf.addressesUtxos(address, { count: 100, page: 99 })).toEqual([]);
    await bf.addressesUtxosAsset(address, devnet.info.ntx.unit);
    await bf.addressesTransactions(address);
    await bf.assetsAddresses(devnet.info.ntx.unit);
    expect(await bf.scriptsByHash(nativeHash)).toMatchObject({ type: "timelock", serialised_size: null });
    expect(await bf.scriptsByHash(plutusHash)).toMatchObject({ type: "plutusV3" });
    expect(await bf.scriptsJson(nativeHash)).toEqual({ json: { type: "all", scripts: [{ type: "sig", keyHash: paymentKeyHashOfPrivateKey(key) }, { type: "after", slot: 0 }] } });
    expect(await bf.scriptsJson(plutusHash)).toEqual({ json: null });
    expect(await bf.scriptsCbor(nativeHash)).toEqual({ cbor: null });
    expect((await bf.scriptsCbor(plutusHash)).cbor).toMatch(/^[0-9a-f]+$/);
    expect(await bf.scriptsDatumCbor(hashedDatumHash)).toEqual({ cbor: hashedDatum });
  });

  it("submits raw CBOR sent as application/cbor, and only that", async () => {
    const payment = async () => {
      const lucid = await chain.lucid({ privateKey: key });
      return (await lucid.newTx().pay.ToAddress(address, { lovelace: 2_000_000n }).complete()).sign.withWallet().complete();
    };
    const tx = await payment();
    const asText = await raw("/tx/submit", { method: "POST", headers: { "content-type": "text/plain" }, body: tx.toCBOR() });
    expect(asText.status).toBe(415);
    const hexAsCbor = await raw("/tx/submit", { method: "POST", headers: { "content-type": "application/cbor" }, body: tx.toCBOR() });
    expect(hexAsCbor.status).toBe(400);
    const garbage = await raw("/tx/submit", { method: "POST", headers: { "content-type": "application/cbor" }, body: Buffer.from("a0ff", "hex") });
    expect(garbage.status).toBe(400);
    expect(await bf.txSubmit(tx.toCBOR())).toBe(tx.toHash());
    await devnet.block();
    await chain.awaitConfirmation(tx.toHash());
    const second = await payment();
    expect(await lucidProvider.submitTx(second.toCBOR())).toBe(second.toHash());
    // Submitting it again spends spent inputs: a 400 with Blockfrost's error body, which Lucid's provider reads.
    await expect(lucidProvider.submitTx(second.toCBOR())).rejects.toThrow(/spent/);
  });

  it("evaluates a Plutus spend for blockfrost-js and for Lucid's provider", async () => {
    const lucid = await chain.lucid({ privateKey: key });
    const [locked] = (await chain.utxosAt(scriptAddress(alwaysTrue, "devnet"))).filter((u) => u.datumHash === hashedDatumHash);
    const spend = await lucid.newTx().collectFrom([{ ...locked!, datum: hashedDatum }], VOID_DATA).attach.SpendingValidator(alwaysTrue).complete();
    const cbor = spend.toCBOR();
    expect(await bf.utilsTxsEvaluate(cbor)).toMatchObject({ result: { EvaluationResult: { "spend:0": expect.anything() } } });
    const redeemers = await lucidProvider.evaluateTx(cbor);
    expect(redeemers).toEqual([expect.objectContaining({ redeemer_tag: "spend", redeemer_index: 0 })]);
    const notTx = await raw("/utils/txs/evaluate", { method: "POST", headers: { "content-type": "application/cbor" }, body: "zz" });
    expect(notTx.status).toBe(400);
  });

  it("answers malformed parameters with 400 and unknown things with 404", async () => {
    const mainnet = "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8";
    const unknownAddress = addressOfPrivateKey(newPrivateKey(), "devnet");
    const cases: Array<[string, number]> = [
      [`/addresses/${address.slice(0, -1)}q`, 400],
      [`/addresses/not-an-address/utxos`, 400],
      [`/addresses/${mainnet}/utxos`, 400],
      [`/addresses/${unknownAddress}`, 404],
      [`/addresses/${unknownAddress}/utxos`, 404],
      [`/addresses/${address}/utxos/nounit`, 400],
      [`/addresses/${address}/utxos?count=101`, 400],
      [`/addresses/${address}/utxos?page=0`, 400],
      [`/addresses/${address}/utxos?order=sideways`, 400],
      [`/txs/${refTx.slice(0, 63)}`, 400],
      [`/txs/${refTx.toUpperCase()}/utxos`, 400],
      [`/txs/${"0".repeat(64)}`, 404],
      [`/txs/${"0".repeat(64)}/cbor`, 404],
      [`/scripts/${nativeHash.slice(2)}`, 400],
      [`/scripts/${"0".repeat(56)}`, 404],
      [`/scripts/${"0".repeat(56)}/json`, 404],
      [`/scripts/${"0".repeat(56)}/cbor`, 404],
      [`/scripts/datum/xyz/cbor`, 400],
      [`/scripts/datum/${"0".repeat(64)}/cbor`, 404],
      [`/blocks/not-a-block`, 400],
      [`/blocks/999999`, 404],
      [`/assets/zz/addresses`, 400],
      [`/assets/${"0".repeat(56)}/addresses`, 404],
      [`/accounts/not-stake`, 400],
      [`/no/such/endpoint`, 404],
    ];
    for (const [path, status] of cases) expect([path, (await raw(path)).status]).toEqual([path, status]);
  });

  it("any path parameter a client makes up gets an answer (400/404 in Blockfrost's error shape; 200 for a real one), never a 5xx", async () => {
    const param = fc.oneof(fc.string({ maxLength: 120 }), fc.stringMatching(/^[0-9a-f]{0,130}$/), fc.stringMatching(/^addr_test1[0-9a-z]{0,110}$/), fc.stringMatching(/^stake_test1[0-9a-z]{0,60}$/));
    const route = fc.constantFrom("/addresses/%", "/addresses/%/utxos", "/addresses/%/utxos/lovelace", "/addresses/%/transactions", "/txs/%", "/txs/%/utxos", "/txs/%/cbor", "/scripts/%", "/scripts/%/json", "/scripts/%/cbor", "/scripts/datum/%/cbor", "/blocks/%", "/assets/%/addresses", "/accounts/%");
    await fc.assert(
      fc.asyncProperty(route, param, async (template, value) => {
        const response = await raw(template.replace("%", encodeURIComponent(value)));
        const body = await response.text();
        // (Every answer also goes through the schema check of the last test: a 200 here, e.g. /blocks/0, must match it.)
        expect([200, 400, 404]).toContain(response.status);
        if (response.status !== 200) expect(JSON.parse(body)).toMatchObject({ status_code: response.status, error: expect.any(String), message: expect.any(String) });
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it("every answer it gave in these tests validates against Blockfrost's schema for its endpoint and status", () => {
    const checked: Array<{ answer: RecordedAnswer; errors: string[] }> = [];
    for (const answer of proxy.answers) {
      const { template, documented, errors } = validateAnswer(answer);
      // Statuses Blockfrost's document does not list per endpoint: its HTTP layer's 415, and 404 off the API.
      if (!documented) expect([answer.path, answer.status, template === undefined || answer.status === 415]).toEqual([answer.path, answer.status, true]);
      checked.push({ answer, errors });
    }
    // The check itself can fail: a real answer with a required field taken away does not validate.
    const txAnswer = proxy.answers.find((a) => a.status === 200 && /^\/txs\/[0-9a-f]{64}$/.test(a.path))!;
    const { treasury_donation: _dropped, ...withoutDonation } = JSON.parse(txAnswer.body) as Record<string, unknown>;
    expect(validateAnswer({ ...txAnswer, body: JSON.stringify(withoutDonation) }).errors).not.toEqual([]);
    expect(validateAnswer({ ...txAnswer, contentType: "text/plain" }).errors).not.toEqual([]);
    const failures = checked.filter((c) => c.errors.length > 0).map((c) => `${c.answer.method} ${c.answer.path} ${c.answer.status}: ${c.errors.join("; ")}`);
    expect(failures).toEqual([]);
    const endpoints = new Set(checked.map((c) => `${c.answer.method} ${validateAnswer(c.answer).template ?? "?"} ${c.answer.status}`));
    // The tests reached every endpoint the devnet serves (and their error statuses).
    for (const expected of [
      "GET /epochs/latest/parameters 200",
      "GET /scripts/{script_hash}/json 200",
      "GET /scripts/{script_hash}/cbor 200",
      "GET /scripts/datum/{datum_hash}/cbor 200",
      "GET /addresses/{address}/utxos 200",
      "GET /addresses/{address}/utxos 400",
      "GET /txs/{hash}/utxos 200",
      "GET /txs/{hash} 400",
      "POST /tx/submit 200",
      "POST /tx/submit 400",
      "POST /tx/submit 415",
      "GET /accounts/{stake_address} 404",
      "POST /utils/txs/evaluate 200",
      "POST /utils/txs/evaluate/utxos 200",
    ]) {
      expect(endpoints).toContain(expected);
    }
  });
});
