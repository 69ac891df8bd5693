import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey, type Chain } from "../../offchain/chain/index.js";
import { isNtxError } from "../../offchain/errors.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { alwaysTrue, VOID_DATA } from "./test-scripts.js";
import { scriptAddress } from "../../offchain/chain/index.js";

// Two separate clients (each its own chain interface, Lucid instance and blockfrost-js) against one devnet
// chain server over HTTP: what one submits, the other sees.
describe("devnet chain over HTTP: transfers between two clients", () => {
  let devnet: TestDevnet;
  let aliceChain: Chain;
  let bobChain: Chain;
  const aliceKey = newPrivateKey();
  const bobKey = newPrivateKey();
  const alice = addressOfPrivateKey(aliceKey, "devnet");
  const bob = addressOfPrivateKey(bobKey, "devnet");

  beforeAll(async () => {
    devnet = await startTestDevnet();
    aliceChain = devnet.chain();
    bobChain = devnet.chain();
    await devnet.fund(alice, 200_000_000n, 5_000n);
  });
  afterAll(async () => {
    await devnet?.stop();
  });

  it("exposes the devnet: slot config from /genesis matches /devnet/info, tip advances per block", async () => {
    expect(await aliceChain.slotConfig()).toEqual(devnet.info.slotConfig);
    expect(devnet.info.ntx.assetName).toBe("4e5458");
    expect(devnet.info.ntx.unit).toBe(devnet.info.ntx.policyId + "4e5458");
    const before = await aliceChain.tip();
    await devnet.block();
    const after = await bobChain.tip();
    expect(after.height).toBe(before.height + 1);
    expect(after.time).toBeGreaterThanOrEqual(before.time);
  });

  it("the faucet funded alice with ADA and devnet NTX", async () => {
    const utxos = await aliceChain.utxosAt(alice);
    const total = (unit: string) => utxos.reduce((a, u) => a + (u.assets[unit] ?? 0n), 0n);
    expect(total("lovelace")).toBe(200_000_000n);
    expect(total(devnet.info.ntx.unit)).toBe(5_000n);
  });

  it("alice pays bob ADA + NTX; bob sees the UTxO, the payout and the confirmations", async () => {
    const unit = devnet.info.ntx.unit;
    const lucid = await aliceChain.lucid({ privateKey: aliceKey });
    const tx = await lucid.newTx().pay.ToAddress(bob, { lovelace: 7_000_000n, [unit]: 1_234n }).complete();
    const signed = await tx.sign.withWallet().complete();
    const hash = await aliceChain.submit(signed.toCBOR());
    expect(hash).toBe(signed.toHash());
    expect((await bobChain.txStatus(hash)).state).toBe("unknown");
    await devnet.block();
    const status = await bobChain.awaitConfirmation(hash);
    expect(status.confirmations).toBe(1);
    expect(status.fee).toBeGreaterThan(0n);
    await devnet.block();
    expect((await bobChain.txStatus(hash)).confirmations).toBe(2);

    const bobUtxos = await bobChain.utxosAtWithUnit(bob, unit);
    expect(bobUtxos).toHaveLength(1);
    expect(bobUtxos[0]!.txHash).toBe(hash);
    expect(bobUtxos[0]!.assets).toEqual({ lovelace: 7_000_000n, [unit]: 1_234n });
    const payouts = await bobChain.payoutsTo(bob);
    expect(payouts.map((p) => [p.txHash, p.assets[unit]])).toEqual([[hash, 1_234n]]);
    // Alice's change is not a payout to alice: she funded that transaction.
    expect((await aliceChain.payoutsTo(alice)).map((p) => p.txHash)).not.toContain(hash);

    const holders = await bobChain.utxosWithUnit(unit);
    expect(new Set(holders.map((u) => u.address))).toEqual(new Set([alice, bob]));
    const aliceNtx = (await aliceChain.utxosAt(alice)).reduce((a, u) => a + (u.assets[unit] ?? 0n), 0n);
    expect(aliceNtx).toBe(5_000n - 1_234n);
  });

  it("bob spends his payment back to alice with his own Lucid instance", async () => {
    const lucid = await bobChain.lucid({ privateKey: bobKey });
    const tx = await lucid.newTx().pay.ToAddress(alice, { lovelace: 3_000_000n }).complete();
    const hash = await bobChain.submit((await tx.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await aliceChain.awaitConfirmation(hash);
    const payouts = await aliceChain.payoutsTo(alice);
    expect(payouts.at(-1)).toMatchObject({ txHash: hash, assets: { lovelace: 3_000_000n } });
  });

  it("locks at a Plutus V3 script with an inline datum and spends it (local evaluation on; the server evaluates too)", async () => {
    const lucid = await aliceChain.lucid({ privateKey: aliceKey });
    const scriptAddr = scriptAddress(alwaysTrue, "devnet");
    const lock = await lucid.newTx().pay.ToContract(scriptAddr, { kind: "inline", value: VOID_DATA }, { lovelace: 5_000_000n }).complete();
    const lockHash = await aliceChain.submit((await lock.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await aliceChain.awaitConfirmation(lockHash);
    const [locked] = await bobChain.utxosAt(scriptAddr);
    expect(locked).toMatchObject({ txHash: lockHash, datum: VOID_DATA });
    expect(await bobChain.datum("923918e403bf43c34b4ef6b48eb2ee04babed17320d8d1b9ff9ad086e86f44ec")).toBe(VOID_DATA);

    await devnet.fund(bob, 20_000_000n); // collateral for the spend
    const spender = await bobChain.lucid({ privateKey: bobKey });
    const spend = await spender.newTx().collectFrom([locked!], VOID_DATA).attach.SpendingValidator(alwaysTrue).pay.ToAddress(bob, { lovelace: 4_000_000n }).complete();
    const spendHash = await bobChain.submit((await spend.sign.withWallet().complete()).toCBOR());
    await devnet.block();
    await bobChain.awaitConfirmation(spendHash);
    expect(await bobChain.utxosAt(scriptAddr)).toEqual([]);
  });

  it("an unreachable chain is a retryable NtxError that says what to check", async () => {
    await devnet.stop();
    const error = await aliceChain.tip().catch((e: unknown) => e);
    expect(isNtxError(error, "CHAIN_UNREACHABLE")).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect((error as Error).message).toMatch(/ntx devnet chain|BLOCKFROST_URL/);
  });
});
