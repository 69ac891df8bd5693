import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, paymentKeyHashOfPrivateKey, scriptAddress, type Chain, type LucidEvolution, type UTxO } from "../../offchain/chain/index.js";
import { isNtxError } from "../../offchain/errors.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { ALWAYS_FAILS_TRACE, alwaysFails, alwaysTrue, VOID_DATA } from "./test-scripts.js";

type Provider = Parameters<LucidEvolution["switchProvider"]>[0];

// Every refusal: HTTP 400 in Blockfrost's error shape, a message that says why, and a ledger exactly as before.
describe("devnet chain refuses invalid transactions and changes nothing", () => {
  let devnet: TestDevnet;
  let chain: Chain;
  const aliceKey = newPrivateKey();
  const bobKey = newPrivateKey();
  const alice = addressOfPrivateKey(aliceKey, "devnet");
  const bob = addressOfPrivateKey(bobKey, "devnet");

  beforeAll(async () => {
    devnet = await startTestDevnet();
    chain = devnet.chain();
    await devnet.fund(alice, 100_000_000n, 1_000n);
    await devnet.fund(alice, 30_000_000n);
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  const ledgerView = async () => {
    const sort = (us: UTxO[]) => us.map((u) => `${u.txHash}#${u.outputIndex}:${JSON.stringify(u.assets, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}`).sort();
    return {
      alice: sort(await chain.utxosAt(alice)),
      bob: sort(await chain.utxosAt(bob)),
      fails: sort(await chain.utxosAt(scriptAddress(alwaysFails, "devnet"))),
      ok: sort(await chain.utxosAt(scriptAddress(alwaysTrue, "devnet"))),
    };
  };

  /** Submits over raw HTTP, checks the refusal's shape and that the ledger did not move; returns the message. */
  const expectRefused = async (cbor: string, hash: string): Promise<string> => {
    const before = await ledgerView();
    const response = await fetch(`${devnet.url}/tx/submit`, { method: "POST", headers: { "content-type": "application/cbor" }, body: Buffer.from(cbor, "hex") });
    const body = (await response.json()) as { status_code: number; error: string; message: string };
    expect(response.status).toBe(400);
    expect(body).toEqual({ status_code: 400, error: "Bad Request", message: expect.any(String) });
    // The chain interface turns the same refusal into a non-retryable NtxError.
    const viaChain = await chain.submit(cbor).catch((e: unknown) => e);
    expect(isNtxError(viaChain, "CHAIN_TX_REJECTED")).toBe(true);
    expect((viaChain as { retryable: boolean }).retryable).toBe(false);
    await devnet.block();
    expect(await ledgerView()).toEqual(before);
    expect((await chain.txStatus(hash)).state).toBe("unknown");
    return body.message;
  };

  /** A provider that answers remote evaluation with fixed ex-units, as a careless or hostile client might. */
  const lyingEvaluator = (real: Provider, units: { mem: number; steps: number }): Provider => ({
    getProtocolParameters: () => real.getProtocolParameters(),
    getUtxos: (a) => real.getUtxos(a),
    getUtxosWithUnit: (a, u) => real.getUtxosWithUnit(a, u),
    getUtxoByUnit: (u) => real.getUtxoByUnit(u),
    getUtxosByOutRef: (r) => real.getUtxosByOutRef(r),
    getDelegation: (r) => real.getDelegation(r),
    getDatum: (h) => real.getDatum(h),
    awaitTx: (h) => real.awaitTx(h),
    submitTx: (t) => real.submitTx(t),
    evaluateTx: async () => [{ redeemer_tag: "spend", redeemer_index: 0, ex_units: units }],
  });

  const lockAt = async (script: typeof alwaysTrue): Promise<UTxO> => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const address = scriptAddress(script, "devnet");
    const tx = await lucid.newTx().pay.ToContract(address, { kind: "inline", value: VOID_DATA }, { lovelace: 3_000_000n }).complete();
    const hash = await chain.submit((await tx.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(hash);
    const utxo = (await chain.utxosAt(address)).find((u) => u.txHash === hash);
    expect(utxo).toBeDefined();
    return utxo!;
  };

  it("spent input: a second transaction spending the same UTxO is refused and names the spender", async () => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const wallet = await chain.utxosAt(alice);
    const biggest = wallet.reduce((a, u) => (u.assets.lovelace! > a.assets.lovelace! ? u : a));
    const first = await (await lucid.newTx().collectFrom([biggest]).pay.ToAddress(bob, { lovelace: 2_000_000n }).complete({ coinSelection: false })).sign.withWallet().complete();
    const second = await (await lucid.newTx().collectFrom([biggest]).pay.ToAddress(bob, { lovelace: 3_000_000n }).complete({ coinSelection: false })).sign.withWallet().complete();
    const firstHash = await chain.submit(first.toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(firstHash);
    const message = await expectRefused(second.toCBOR(), second.toHash());
    expect(message).toContain("spent_input");
    expect(message).toContain(`${biggest.txHash}#${biggest.outputIndex}`);
    expect(message).toContain(firstHash);
  });

  it("missing signature: a required signer that did not sign, and an input whose owner did not sign", async () => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const bobHash = paymentKeyHashOfPrivateKey(bobKey);
    const needsBob = await (await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).addSignerKey(bobHash).complete()).sign.withWallet().complete();
    const message = await expectRefused(needsBob.toCBOR(), needsBob.toHash());
    expect(message).toMatch(/missing signature: required signer [0-9a-f]{56} did not sign/);
    expect(message).toContain(bobHash);

    const unsigned = await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).complete();
    const message2 = await expectRefused(unsigned.toCBOR(), unsigned.toHash());
    expect(message2).toContain("missing signature");
    expect(message2).toContain(paymentKeyHashOfPrivateKey(aliceKey));
  });

  it("validity range: expired and not yet valid", async () => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    // The devnet's slot 0 is its start: wait until slot 3 so a range ending at slot 2 is in the past.
    const start = devnet.info.slotConfig.zeroTime;
    while (Date.now() < start + 3_500) await new Promise((r) => setTimeout(r, 200));
    const now = Date.now();
    const expired = await (await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).validFrom(start).validTo(start + 2_000).complete()).sign.withWallet().complete();
    expect(await expectRefused(expired.toCBOR(), expired.toHash())).toMatch(/validity_range.*expired at slot \d+/);
    const early = await (await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).validFrom(now + 600_000).validTo(now + 900_000).complete()).sign.withWallet().complete();
    expect(await expectRefused(early.toCBOR(), early.toHash())).toMatch(/validity_range.*valid from slot \d+/);
    // Inside the range it goes through: the client's slot config (from /genesis) agrees with the server's slots.
    const fine = await (await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).validFrom(start).validTo(now + 300_000).complete()).sign.withWallet().complete();
    const hash = await chain.submit(fine.toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(hash);
  });

  it("script failure: built with localUPLCEval false and made-up ex-units, the server runs the script and refuses it with its trace", async () => {
    const locked = await lockAt(alwaysFails);
    const lucid = await chain.lucid({ privateKey: aliceKey });
    // Remote evaluation on this devnet would already refuse to cost the script; lie so the tx reaches submission.
    await lucid.switchProvider(lyingEvaluator(lucid.config().provider!, { mem: 1_000_000, steps: 500_000_000 }));
    const tx = await lucid.newTx().collectFrom([locked], VOID_DATA).attach.SpendingValidator(alwaysFails).pay.ToAddress(alice, { lovelace: 2_000_000n }).complete({ localUPLCEval: false });
    const signed = await tx.sign.withWallet().complete();
    const message = await expectRefused(signed.toCBOR(), signed.toHash());
    expect(message).toContain("script failure");
    expect(message).toContain(ALWAYS_FAILS_TRACE);
  });

  it("remote evaluation (/utils/txs/evaluate/utxos) refuses the failing script to an honest client", async () => {
    const [locked] = await chain.utxosAt(scriptAddress(alwaysFails, "devnet"));
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const error = await lucid.newTx().collectFrom([locked!], VOID_DATA).attach.SpendingValidator(alwaysFails).pay.ToAddress(alice, { lovelace: 2_000_000n }).complete({ localUPLCEval: false }).catch((e: unknown) => e);
    expect(String(error)).toContain(ALWAYS_FAILS_TRACE);
  });

  it("ex-units: a passing script that declares less than it uses is refused; with remote evaluation it is accepted", async () => {
    const locked = await lockAt(alwaysTrue);
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const honest = lucid.config().provider!;
    await lucid.switchProvider(lyingEvaluator(honest, { mem: 1, steps: 1 }));
    const cheap = await (await lucid.newTx().collectFrom([locked], VOID_DATA).attach.SpendingValidator(alwaysTrue).pay.ToAddress(alice, { lovelace: 2_000_000n }).complete({ localUPLCEval: false })).sign.withWallet().complete();
    expect(await expectRefused(cheap.toCBOR(), cheap.toHash())).toMatch(/ex_units.*spend:0.*too small/);

    await lucid.switchProvider(honest);
    const costed = await (await lucid.newTx().collectFrom([locked], VOID_DATA).attach.SpendingValidator(alwaysTrue).pay.ToAddress(alice, { lovelace: 2_000_000n }).complete({ localUPLCEval: false })).sign.withWallet().complete();
    const hash = await chain.submit(costed.toCBOR());
    await devnet.block();
    await chain.awaitConfirmation(hash);
  });

  it("value not conserved: a signed transaction whose fee was lowered after balancing is refused", async () => {
    const lucid = await chain.lucid({ privateKey: aliceKey });
    const balanced = await lucid.newTx().pay.ToAddress(bob, { lovelace: 2_000_000n }).complete();
    const fee = balanced.toTransaction().body().fee();
    const feeField = `021a${fee.toString(16).padStart(8, "0")}`;
    const cbor = balanced.toCBOR();
    expect(cbor.split(feeField)).toHaveLength(2);
    const tampered = cbor.replace(feeField, `021a${(fee - 1_000n).toString(16).padStart(8, "0")}`);
    // Re-signed, so the signatures are right and only the balance is wrong.
    const signed = await lucid.fromTx(tampered).sign.withWallet().complete();
    expect(await expectRefused(signed.toCBOR(), signed.toHash())).toMatch(/value_not_conserved.*1000 lovelace/);
  });

  it("garbage is refused in the same shape", async () => {
    const response = await fetch(`${devnet.url}/tx/submit`, { method: "POST", headers: { "content-type": "application/cbor" }, body: Buffer.from("not a transaction") });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ status_code: 400, error: "Bad Request", message: expect.stringContaining("invalid_cbor") });
  });
});
