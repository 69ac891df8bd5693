import { readFileSync } from "node:fs";
import {
  Constr,
  Data,
  applyDoubleCborEncoding,
  applyParamsToScript,
  credentialToAddress,
  validatorToAddress,
  validatorToRewardAddress,
  validatorToScriptHash,
  type Script,
} from "@lucid-evolution/lucid";
import type { Assets, TxSignBuilder } from "../../offchain/emulator.js";
import { UPLCEncoder, UPLCProgram, UPLCVersion, data, pfn, pmakeUnit, unit } from "@harmoniclabs/plu-ts";
import { beforeAll, describe, expect, it } from "vitest";
import { cborBytes } from "../../contracts/blueprint.js";
import { buildCompleteTx, getEscrowUtxo, signCompletionProof, type EscrowUtxo } from "../../offchain/index.js";
import { TEST_NTX, createEscrowWorld, randomHex, type EscrowWorld } from "../helpers/emulator.js";

/*
 * Attacks on the batch (withdraw-zero) pattern, each transaction assembled by hand from contracts/plutus.json: the
 * scripts are applied here with Lucid, redeemers and outputs are written as raw Constr data, and the payout groups
 * are computed here from the rule the blueprint states (outputs from index 0, one per run of consecutive escrow
 * inputs with the same payout address / requester, provider first). The project's builders only set the scene
 * (lock and complete). Every attack has an honest twin that must pass local evaluation.
 */

const SCRIPT_FAILURE = /failed script execution/i;

interface BlueprintValidator {
  title: string;
  compiledCode: string;
}
const blueprint = JSON.parse(readFileSync(new URL("../../contracts/plutus.json", import.meta.url), "utf8")) as { validators: BlueprintValidator[] };
const code = (title: string) => applyDoubleCborEncoding(blueprint.validators.find((v) => v.title === title)!.compiledCode);
const batchScript: Script = { type: "PlutusV3", script: applyParamsToScript(code("escrow_batch.withdraw"), [TEST_NTX.policyId, TEST_NTX.assetName]) };
const escrowScript: Script = {
  type: "PlutusV3",
  script: applyParamsToScript(code("escrow.spend"), [TEST_NTX.policyId, TEST_NTX.assetName, validatorToScriptHash(batchScript)]),
};
const batchRedeemer = { claim: Data.to(new Constr(0, [])), accept: Data.to(new Constr(1, [])) };
const batchSpend = (inputIndex: bigint) => Data.to(new Constr(7, [inputIndex]));
const singleClaim = (inputIndex: bigint, providerOut: number, requesterOut: number) => Data.to(new Constr(2, [inputIndex, BigInt(providerOut), BigInt(requesterOut)]));

/** An always-succeeding Plutus V3 script: the stand-in batch script of an attacker. */
function alwaysTrue(): Script {
  const version = new UPLCVersion(1, 1, 0);
  const term = pfn([data], unit)((_ctx) => pmakeUnit()) as unknown as { toUPLC(level: number, options: object): unknown };
  const uplc = term.toUPLC(0, { targetUplcVersion: version, removeTraces: true, delayHoists: false, addMarker: false });
  const flat = new Uint8Array(UPLCEncoder.compile(new UPLCProgram(version, uplc as never)).toBuffer().buffer);
  return { type: "PlutusV3", script: Buffer.from(cborBytes(cborBytes(flat))).toString("hex") };
}

interface Out {
  address: string;
  assets: Assets;
}

/** The honest grouped payouts for `escrows` spent together (the rule in the blueprint's BatchRedeemer). */
function groupedOutputs(w: EscrowWorld, escrows: EscrowUtxo[]): Out[] {
  const sorted = [...escrows].sort((a, b) => (a.utxo.txHash === b.utxo.txHash ? a.utxo.outputIndex - b.utxo.outputIndex : a.utxo.txHash < b.utxo.txHash ? -1 : 1));
  const outs: Out[] = [];
  let provider: { key: string; out: Out } | undefined;
  let requester: { key: string; out: Out } | undefined;
  for (const e of sorted) {
    if (provider?.key === e.datum.payout) provider.out.assets[w.ntxUnit]! += e.datum.amount;
    else outs.push((provider = { key: e.datum.payout, out: { address: e.datum.payout, assets: { [w.ntxUnit]: e.datum.amount } } }).out);
    const lovelace = e.utxo.assets.lovelace!;
    if (requester?.key === e.datum.requester) requester.out.assets.lovelace! += lovelace;
    else outs.push((requester = { key: e.datum.requester, out: { address: credentialToAddress("Custom", { type: "Key", hash: e.datum.requester }), assets: { lovelace } } }).out);
  }
  return outs;
}

interface BatchSpec {
  escrows: EscrowUtxo[];
  outputs: Out[];
  /** Spend redeemer per escrow (default Batch); `single` escrows use the single Claim path on its own tagged outputs. */
  spend?: (escrow: EscrowUtxo) => (inputIndex: bigint) => string;
  /** The withdrawal: the genuine batch script (default), another script, or none. */
  withdraw?: { script: Script; redeemer: string } | null;
  signers?: string[];
  validFrom?: number;
  extraOutputs?: Array<Out & { datum: string }>;
}

function build(w: EscrowWorld, spec: BatchSpec): Promise<TxSignBuilder> {
  let tx = w.as("provider").newTx().readFrom([w.deployment.referenceUtxo]);
  for (const e of spec.escrows) tx = tx.collectFrom([e.utxo], { kind: "self", makeRedeemer: spec.spend?.(e) ?? batchSpend });
  for (const o of spec.outputs) tx = tx.pay.ToAddress(o.address, o.assets);
  for (const o of spec.extraOutputs ?? []) tx = tx.pay.ToAddressWithData(o.address, { kind: "inline", value: o.datum }, o.assets);
  const withdraw = spec.withdraw === undefined ? { script: batchScript, redeemer: batchRedeemer.claim } : spec.withdraw;
  if (withdraw) tx = tx.attach.WithdrawalValidator(withdraw.script).withdraw(validatorToRewardAddress("Custom", withdraw.script), 0n, withdraw.redeemer);
  for (const k of spec.signers ?? []) tx = tx.addSignerKey(k);
  return tx.validFrom(spec.validFrom ?? w.emulator.now()).validTo(w.emulator.now() + 60_000).complete();
}

async function honestAndAttack(w: EscrowWorld, honest: BatchSpec, attack: BatchSpec): Promise<void> {
  await expect(build(w, honest)).resolves.toBeDefined();
  await expect(build(w, attack)).rejects.toThrow(SCRIPT_FAILURE);
}

describe("batch (withdraw-zero) attacks, built by hand from plutus.json", () => {
  let w: EscrowWorld;
  /** Claimable escrows: two from the requester paying the provider, one from the outsider paying the arbiter's address. */
  let claimable: EscrowUtxo[];
  let fresh: EscrowUtxo;
  let locked: EscrowUtxo;

  const complete = async (escrow: EscrowUtxo, validForMs: number) => {
    const resultHash = randomHex(32);
    const signature = await signCompletionProof(w.proofWallet, { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
    const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow, resultHash, signature, now: w.emulator.now(), validForMs });
    return getEscrowUtxo(w.lucid, w.script, { txHash: await w.submit("provider", tx), outputIndex: 0 });
  };

  beforeAll(async () => {
    w = await createEscrowWorld();
    expect(escrowScript.script).toBe(w.script.script.script);
    expect(validatorToAddress("Custom", escrowScript)).toBe(w.script.address);
    const short = { challengeWindow: 1_000 };
    const [a, b, c, d, e] = await w.lock([
      short,
      short,
      { ...short, requester: w.parties.outsider.keyHash, payout: w.parties.arbiter.address },
      { challengeWindow: 3_600_000 },
      {},
    ]);
    claimable = [await complete(a!, 2_000), await complete(b!, 2_000), await complete(c!, 2_000)];
    fresh = await complete(d!, 2_000);
    locked = e!;
    w.emulator.awaitSlot(30);
  }, 120_000);

  it("the honest hand-built batch claim settles every escrow: grouped payouts land", async () => {
    const before = await w.balance("arbiter", w.ntxUnit);
    const tx = await build(w, { escrows: claimable, outputs: groupedOutputs(w, claimable) });
    expect(tx.toTransaction().body().withdrawals()?.len()).toBe(1);
    // Nothing is submitted: the escrows stay for the attacks. The run's outputs name the arbiter's payout once.
    expect(groupedOutputs(w, claimable).filter((o) => o.address === w.parties.arbiter.address)).toHaveLength(1);
    expect(await w.balance("arbiter", w.ntxUnit)).toBe(before);
  });

  it("a Batch spend without the batch script in the transaction", async () => {
    await honestAndAttack(w, { escrows: claimable, outputs: groupedOutputs(w, claimable) }, { escrows: claimable, outputs: groupedOutputs(w, claimable), withdraw: null });
  });

  it("a Batch spend with another (always-true) staking script withdrawn from instead", async () => {
    const fake = alwaysTrue();
    await w.submit("outsider", await w.as("outsider").newTx().register.Stake(validatorToRewardAddress("Custom", fake)).complete());
    await honestAndAttack(
      w,
      { escrows: claimable, outputs: groupedOutputs(w, claimable) },
      { escrows: claimable, outputs: [], withdraw: { script: fake, redeemer: batchRedeemer.claim } },
    );
  });

  it("the batch run over a different set of inputs: payouts for two escrows while three are spent", async () => {
    await honestAndAttack(w, { escrows: claimable, outputs: groupedOutputs(w, claimable) }, { escrows: claimable, outputs: groupedOutputs(w, claimable.slice(0, 2)) });
  });

  it("an escrow spent through its single Claim path beside a batch, its tagged payouts also standing for another escrow of the batch", async () => {
    const [single, unpaid, other] = claimable as [EscrowUtxo, EscrowUtxo, EscrowUtxo];
    expect(unpaid.datum.payout).toBe(single.datum.payout);
    const tag = Data.to(new Constr(0, [single.utxo.txHash, BigInt(single.utxo.outputIndex)]));
    // The batch is shown payouts for `other` only, plus `single`'s own tagged pair; `unpaid` gets nothing.
    const restOuts = groupedOutputs(w, [other]);
    const singleOuts = [
      { address: single.datum.payout, datum: tag, assets: { [w.ntxUnit]: single.datum.amount } },
      { address: credentialToAddress("Custom", { type: "Key", hash: single.datum.requester }), datum: tag, assets: { lovelace: single.utxo.assets.lovelace! } },
    ];
    const allOuts = groupedOutputs(w, claimable);
    const spendAt = (first: number) => (e: EscrowUtxo) => (e === single ? (i: bigint) => singleClaim(i, first, first + 1) : batchSpend);
    await honestAndAttack(
      w,
      { escrows: claimable, outputs: allOuts, extraOutputs: singleOuts, spend: spendAt(allOuts.length) },
      { escrows: claimable, outputs: restOuts, extraOutputs: singleOuts, spend: spendAt(restOuts.length) },
    );
  });

  it("payouts summed wrongly across providers: one provider's NTX paid to the other", async () => {
    const honest = groupedOutputs(w, claimable);
    const moved = honest.map((o) => ({ address: o.address, assets: { ...o.assets } }));
    const toArbiter = moved.find((o) => o.address === w.parties.arbiter.address)!;
    const toProvider = moved.find((o) => o.address === w.parties.provider.address)!;
    toProvider.assets[w.ntxUnit]! += toArbiter.assets[w.ntxUnit]! - 1n;
    toArbiter.assets[w.ntxUnit] = 1n;
    await honestAndAttack(w, { escrows: claimable, outputs: honest }, { escrows: claimable, outputs: moved });
  });

  it("a provider group paid one escrow's amount instead of the group's sum", async () => {
    const two = claimable.slice(0, 2);
    const honest = groupedOutputs(w, two);
    expect(honest).toHaveLength(2);
    const short = honest.map((o) => (o.assets[w.ntxUnit] ? { address: o.address, assets: { [w.ntxUnit]: o.assets[w.ntxUnit]! / 2n } } : o));
    await honestAndAttack(w, { escrows: two, outputs: honest }, { escrows: two, outputs: short });
  });

  it("a requester's min-ADA return short by one lovelace", async () => {
    const honest = groupedOutputs(w, claimable);
    const short = honest.map((o) => (o.assets.lovelace ? { address: o.address, assets: { lovelace: o.assets.lovelace - 1n } } : o));
    await honestAndAttack(w, { escrows: claimable, outputs: honest }, { escrows: claimable, outputs: short });
  });

  it("a requester's return paid to the claimant's address instead", async () => {
    const honest = groupedOutputs(w, claimable);
    const stolen = honest.map((o) => (o.assets.lovelace ? { address: w.parties.provider.address, assets: o.assets } : o));
    await honestAndAttack(w, { escrows: claimable, outputs: honest }, { escrows: claimable, outputs: stolen });
  });

  it("a claim before one escrow's challenge window is over", async () => {
    const withFresh = [...claimable, fresh];
    await honestAndAttack(w, { escrows: claimable, outputs: groupedOutputs(w, claimable) }, { escrows: withFresh, outputs: groupedOutputs(w, withFresh) });
  });

  it("a Locked (never completed) escrow in a batch claim", async () => {
    const withLocked = [...claimable, locked];
    await honestAndAttack(w, { escrows: claimable, outputs: groupedOutputs(w, claimable) }, { escrows: withLocked, outputs: groupedOutputs(w, withLocked) });
  });

  it("a batch accept not signed by every escrow's requester", async () => {
    const accept = { script: batchScript, redeemer: batchRedeemer.accept };
    const both = [w.parties.requester.keyHash, w.parties.outsider.keyHash];
    await honestAndAttack(
      w,
      { escrows: claimable, outputs: groupedOutputs(w, claimable), withdraw: accept, signers: both },
      { escrows: claimable, outputs: groupedOutputs(w, claimable), withdraw: accept, signers: both.slice(0, 1) },
    );
  });

  it("a look-alike escrow with a negative amount, to lower what its provider group is owed", async () => {
    const datum = Data.from(claimable[0]!.utxo.datum!) as Constr<unknown>;
    const fields = [...datum.fields];
    fields[5] = -(claimable[1]!.datum.amount / 2n);
    const bogusDatum = Data.to(new Constr(0, fields) as Data);
    const sent = await w.as("outsider").newTx().pay.ToContract(w.script.address, { kind: "inline", value: bogusDatum }, { lovelace: 3_000_000n }).complete();
    const txHash = await w.submit("outsider", sent);
    const [bogus] = await w.lucid.utxosByOutRef([{ txHash, outputIndex: 0 }]);
    const asEscrow = { ...claimable[1]!, utxo: bogus!, datum: { ...claimable[0]!.datum, amount: -(claimable[1]!.datum.amount / 2n) } };
    const two = claimable.slice(0, 2);
    await honestAndAttack(w, { escrows: two, outputs: groupedOutputs(w, two) }, { escrows: [...two, asEscrow], outputs: groupedOutputs(w, [...two, asEscrow]) });
  });
});

describe("batch script not registered as a stake credential", () => {
  it("the ledger refuses the withdrawal, so no batch can settle", async () => {
    const w = await createEscrowWorld({ registerBatchScript: false });
    const [e] = await w.lock([{ challengeWindow: 1_000 }]);
    const resultHash = randomHex(32);
    const signature = await signCompletionProof(w.proofWallet, { escrowRef: e!.escrowRef, jobHash: e!.datum.jobHash, resultHash });
    const done = await w.submit("provider", await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow: e!, resultHash, signature, now: w.emulator.now(), validForMs: 2_000 }));
    const completed = await getEscrowUtxo(w.lucid, w.script, { txHash: done, outputIndex: 0 });
    w.emulator.awaitSlot(30);
    const tx = await build(w, { escrows: [completed], outputs: groupedOutputs(w, [completed]) });
    await expect(w.submit("provider", tx)).rejects.toThrow(/reward balance|not registered|withdrawal/i);
  }, 120_000);
});
