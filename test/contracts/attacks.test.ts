import type { Assets, TxSignBuilder } from "../../offchain/emulator.js";
import { SigningKey, Wallet, concat, keccak256 } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import { completionProofTypeHash, eip712MessagePrefix } from "../../contracts/eip712.js";
import {
  EscrowRedeemer,
  buildCompleteTx,
  encodeEscrowDatum,
  getEscrowUtxo,
  onChainSignature,
  onChainTime,
  payoutTag,
  requesterAddress,
  signCompletionProof,
  withState,
  type EscrowDatum,
  type EscrowUtxo,
} from "../../offchain/index.js";
import { createEscrowWorld, randomHex, type EscrowWorld, type Role } from "../helpers/emulator.js";

/*
 * Attacks on the validator. The builders refuse all of these, so each attack is a hand-assembled transaction;
 * every test first builds the honest twin with the same helper (it must pass local evaluation) and then the attack,
 * which differs in one thing and must fail in the script ("failed script execution"), not anywhere else.
 */

const SCRIPT_FAILURE = /failed script execution/i;

interface Spend {
  escrow: EscrowUtxo;
  redeemer: (inputIndex: bigint) => string;
}

interface Output {
  address: string;
  datum?: string;
  assets: Assets;
}

interface ManualTx {
  as: Role;
  spends: Spend[];
  outputs: Output[];
  signers?: string[];
  validFrom?: number;
  validTo?: number;
}

function build(w: EscrowWorld, spec: ManualTx): Promise<TxSignBuilder> {
  let tx = w.as(spec.as).newTx().readFrom([w.deployment.referenceUtxo]);
  for (const s of spec.spends) tx = tx.collectFrom([s.escrow.utxo], { kind: "self", makeRedeemer: s.redeemer });
  for (const o of spec.outputs) {
    tx = o.datum === undefined ? tx.pay.ToAddress(o.address, o.assets) : tx.pay.ToAddressWithData(o.address, { kind: "inline", value: o.datum }, o.assets);
  }
  for (const k of spec.signers ?? []) tx = tx.addSignerKey(k);
  if (spec.validFrom !== undefined) tx = tx.validFrom(spec.validFrom);
  if (spec.validTo !== undefined) tx = tx.validTo(spec.validTo);
  return tx.complete();
}

async function honestAndAttack(w: EscrowWorld, honest: ManualTx, attack: ManualTx): Promise<void> {
  await expect(build(w, honest)).resolves.toBeDefined();
  await expect(build(w, attack)).rejects.toThrow(SCRIPT_FAILURE);
}

async function proof(w: EscrowWorld, escrow: EscrowUtxo, resultHash: string, over: Partial<{ jobHash: string; escrowRef: string }> = {}, signer: Wallet = w.proofWallet) {
  return signCompletionProof(signer, { escrowRef: over.escrowRef ?? escrow.escrowRef, jobHash: over.jobHash ?? escrow.datum.jobHash, resultHash });
}

/** Complete as the honest builder would assemble it, with every piece overridable. */
function completeSpec(
  w: EscrowWorld,
  escrow: EscrowUtxo,
  o: { signature: string; resultHash: string; validTo?: number; datum?: EscrowDatum; datumCbor?: string; assets?: Assets; redeemerResult?: string },
): ManualTx {
  const validTo = o.validTo ?? w.emulator.now() + 60_000;
  const completedAt = onChainTime(w.lucid, validTo);
  const datum = o.datumCbor ?? encodeEscrowDatum(o.datum ?? withState(escrow.datum, { kind: "completed", resultHash: o.resultHash, completedAt }));
  return {
    as: "provider",
    spends: [{ escrow, redeemer: (i) => EscrowRedeemer.complete(i, 0, onChainSignature(o.signature), o.redeemerResult ?? o.resultHash) }],
    outputs: [{ address: w.script.address, datum, assets: o.assets ?? escrow.utxo.assets }],
    validTo,
  };
}

interface SettleOverrides {
  providerAddress?: string;
  providerAssets?: Assets;
  requesterAddress?: string;
  requesterAssets?: Assets;
  tag?: string;
}

function settleOutputs(w: EscrowWorld, escrow: EscrowUtxo, share: bigint, o: SettleOverrides = {}): Output[] {
  const tag = o.tag ?? payoutTag(escrow.utxo);
  const rest = escrow.datum.amount - share;
  const outputs: Output[] = [];
  if (share > 0n) outputs.push({ address: o.providerAddress ?? escrow.datum.payout, datum: tag, assets: o.providerAssets ?? { [w.ntxUnit]: share } });
  outputs.push({
    address: o.requesterAddress ?? requesterAddress(w.lucid, escrow.datum.requester),
    datum: tag,
    assets: o.requesterAssets ?? { lovelace: escrow.utxo.assets.lovelace!, ...(rest > 0n ? { [w.ntxUnit]: rest } : {}) },
  });
  return outputs;
}

function claimSpec(w: EscrowWorld, escrow: EscrowUtxo, o: SettleOverrides & { validFrom?: number } = {}): ManualTx {
  return {
    as: "provider",
    spends: [{ escrow, redeemer: (i) => EscrowRedeemer.claim(i, 0, 1) }],
    outputs: settleOutputs(w, escrow, escrow.datum.amount, o),
    validFrom: o.validFrom ?? w.emulator.now(),
    validTo: w.emulator.now() + 60_000,
  };
}

/** The requester's refund of one escrow, valid from now. */
function refundSpec(w: EscrowWorld, escrow: EscrowUtxo): ManualTx {
  return {
    as: "requester",
    spends: [{ escrow, redeemer: () => EscrowRedeemer.refund() }],
    outputs: [],
    signers: [w.parties.requester.keyHash],
    validFrom: w.emulator.now(),
  };
}

describe("escrow validator attacks", () => {
  let w: EscrowWorld;
  let locked: EscrowUtxo;
  let completed: EscrowUtxo;
  let claimable: EscrowUtxo;
  let claimable2: EscrowUtxo;
  let disputed: EscrowUtxo;
  let expired: EscrowUtxo;
  let expiredCompleted: EscrowUtxo;

  const completeHonestly = async (escrow: EscrowUtxo, validForMs = 30_000) => {
    const resultHash = randomHex(32);
    const signature = await proof(w, escrow, resultHash);
    const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow, resultHash, signature, now: w.emulator.now(), validForMs });
    const txHash = await w.submit("provider", tx);
    return getEscrowUtxo(w.lucid, w.script, { txHash, outputIndex: 0 });
  };

  beforeAll(async () => {
    w = await createEscrowWorld();
    const now = w.emulator.now();
    const escrows = await w.lock([
      { amount: 1_000n, deadline: now + 3_600_000 }, // locked
      { amount: 1_000n, deadline: now + 3_600_000, challengeWindow: 7_200_000 }, // completed, window open throughout
      { amount: 1_000n, deadline: now + 3_600_000, challengeWindow: 60_000 }, // claimable
      { amount: 1_000n, deadline: now + 3_600_000, challengeWindow: 60_000 }, // claimable, same amount/provider
      { amount: 1_000n, deadline: now + 3_600_000 }, // disputed
      { amount: 1_000n, deadline: now + 600_000 }, // expired, never completed
      { amount: 1_000n, deadline: now + 600_000 }, // completed, then past the deadline
    ]);
    [locked] = escrows as [EscrowUtxo];
    completed = await completeHonestly(escrows[1]!);
    claimable = await completeHonestly(escrows[2]!);
    claimable2 = await completeHonestly(escrows[3]!);
    const toDispute = await completeHonestly(escrows[4]!);
    expired = escrows[5]!;
    expiredCompleted = await completeHonestly(escrows[6]!);
    const disputeTx = await build(w, {
      as: "requester",
      spends: [{ escrow: toDispute, redeemer: (i) => EscrowRedeemer.dispute(i, 0) }],
      outputs: [{ address: w.script.address, datum: encodeEscrowDatum(withState(toDispute.datum, { kind: "disputed" })), assets: toDispute.utxo.assets }],
      signers: [w.parties.requester.keyHash],
      validTo: w.emulator.now() + 60_000,
    });
    const disputeHash = await w.submit("requester", disputeTx);
    disputed = await getEscrowUtxo(w.lucid, w.script, { txHash: disputeHash, outputIndex: 0 });
    // Past the 60 s windows; `completed` keeps its 2-hour window open for every test below.
    w.emulator.awaitSlot(120);
  });

  describe("signers", () => {
    it("accept by someone other than the requester", async () => {
      const spec = (signer: string): ManualTx => ({
        as: "requester",
        spends: [{ escrow: completed, redeemer: (i) => EscrowRedeemer.accept(i, 0, 1) }],
        outputs: settleOutputs(w, completed, completed.datum.amount),
        signers: [signer],
      });
      await honestAndAttack(w, spec(w.parties.requester.keyHash), spec(w.parties.outsider.keyHash));
    });

    it("dispute by someone other than the requester", async () => {
      const spec = (signer: string): ManualTx => ({
        as: "requester",
        spends: [{ escrow: completed, redeemer: (i) => EscrowRedeemer.dispute(i, 0) }],
        outputs: [{ address: w.script.address, datum: encodeEscrowDatum(withState(completed.datum, { kind: "disputed" })), assets: completed.utxo.assets }],
        signers: [signer],
        validTo: w.emulator.now() + 60_000,
      });
      await honestAndAttack(w, spec(w.parties.requester.keyHash), spec(w.parties.provider.keyHash));
    });

    it("resolve by someone other than the arbiter", async () => {
      const spec = (signer: string): ManualTx => ({
        as: "provider",
        spends: [{ escrow: disputed, redeemer: (i) => EscrowRedeemer.resolve(i, 0, 1, disputed.datum.amount) }],
        outputs: settleOutputs(w, disputed, disputed.datum.amount),
        signers: [signer],
      });
      await honestAndAttack(w, spec(w.parties.arbiter.keyHash), spec(w.parties.provider.keyHash));
    });

    it("refund signed by someone other than the requester", async () => {
      const spec = (signer: string): ManualTx => ({
        as: "outsider",
        spends: [{ escrow: expired, redeemer: () => EscrowRedeemer.refund() }],
        outputs: [],
        signers: [signer],
        validFrom: w.emulator.now(),
      });
      w.emulator.awaitSlot(600);
      await honestAndAttack(w, spec(w.parties.requester.keyHash), spec(w.parties.outsider.keyHash));
    });

    it("cancel without the provider's signature", async () => {
      const spec = (signers: string[]): ManualTx => ({ as: "requester", spends: [{ escrow: locked, redeemer: () => EscrowRedeemer.cancel() }], outputs: [], signers });
      await honestAndAttack(w, spec([w.parties.requester.keyHash, w.parties.provider.keyHash]), spec([w.parties.requester.keyHash]));
    });
  });

  describe("time", () => {
    it("claim before the challenge window is over", async () => {
      const state = completed.datum.state;
      if (state.kind !== "completed") throw new Error("setup");
      // Honest twin: the same claim on an escrow whose window is over.
      await expect(build(w, claimSpec(w, claimable))).resolves.toBeDefined();
      await expect(build(w, claimSpec(w, completed))).rejects.toThrow(SCRIPT_FAILURE);
    });

    it("refund before the deadline", async () => {
      if (w.emulator.now() < expired.datum.deadline) w.emulator.awaitSlot(Math.ceil((expired.datum.deadline - w.emulator.now()) / 1000) + 1);
      await honestAndAttack(w, refundSpec(w, expired), refundSpec(w, locked));
    });

    it("refund after completion, even past the deadline", async () => {
      if (w.emulator.now() < expiredCompleted.datum.deadline) w.emulator.awaitSlot(Math.ceil((expiredCompleted.datum.deadline - w.emulator.now()) / 1000) + 1);
      await honestAndAttack(w, refundSpec(w, expired), refundSpec(w, expiredCompleted));
    });

    it("complete with a validity range reaching past the deadline", async () => {
      const resultHash = randomHex(32);
      const signature = await proof(w, locked, resultHash);
      const deadline = locked.datum.deadline;
      await honestAndAttack(
        w,
        completeSpec(w, locked, { signature, resultHash, validTo: deadline }),
        completeSpec(w, locked, { signature, resultHash, validTo: deadline + 5_000 }),
      );
    });

    it("dispute after the challenge window", async () => {
      const spec = (escrow: EscrowUtxo): ManualTx => ({
        as: "requester",
        spends: [{ escrow, redeemer: (i) => EscrowRedeemer.dispute(i, 0) }],
        outputs: [{ address: w.script.address, datum: encodeEscrowDatum(withState(escrow.datum, { kind: "disputed" })), assets: escrow.utxo.assets }],
        signers: [w.parties.requester.keyHash],
        validTo: w.emulator.now() + 30_000,
      });
      await honestAndAttack(w, spec(completed), spec(claimable));
    });
  });

  describe("completion proof", () => {
    it("proof over another job", async () => {
      const resultHash = randomHex(32);
      await honestAndAttack(
        w,
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash), resultHash }),
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash, { jobHash: randomHex(32) }), resultHash }),
      );
    });

    it("proof over another result", async () => {
      const resultHash = randomHex(32);
      const signature = await proof(w, locked, resultHash);
      const other = randomHex(32);
      await honestAndAttack(
        w,
        completeSpec(w, locked, { signature, resultHash }),
        // The redeemer and datum claim another result than the one signed.
        completeSpec(w, locked, { signature, resultHash: other }),
      );
    });

    it("proof for another escrow (replay)", async () => {
      const resultHash = randomHex(32);
      await honestAndAttack(
        w,
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash), resultHash }),
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash, { escrowRef: expired.escrowRef }), resultHash }),
      );
    });

    it("proof by another key", async () => {
      const resultHash = randomHex(32);
      const stranger = Wallet.createRandom() as unknown as Wallet;
      await honestAndAttack(
        w,
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash), resultHash }),
        completeSpec(w, locked, { signature: await proof(w, locked, resultHash, {}, stranger), resultHash }),
      );
    });
  });

  describe("continuing output", () => {
    it("keeps less value than the escrow held", async () => {
      const resultHash = randomHex(32);
      const signature = await proof(w, locked, resultHash);
      const less = { ...locked.utxo.assets, [w.ntxUnit]: locked.datum.amount - 1n };
      await honestAndAttack(w, completeSpec(w, locked, { signature, resultHash }), completeSpec(w, locked, { signature, resultHash, assets: less }));
    });

    it("changes another datum field than the state", async () => {
      const resultHash = randomHex(32);
      const signature = await proof(w, locked, resultHash);
      const validTo = w.emulator.now() + 60_000;
      const completedAt = onChainTime(w.lucid, validTo);
      const tampered = { ...withState(locked.datum, { kind: "completed", resultHash, completedAt }), payout: w.parties.outsider.address };
      await honestAndAttack(w, completeSpec(w, locked, { signature, resultHash, validTo }), completeSpec(w, locked, { signature, resultHash, validTo, datum: tampered }));
    });

    it("backdates completedAt to shorten the challenge window", async () => {
      const resultHash = randomHex(32);
      const signature = await proof(w, locked, resultHash);
      const validTo = w.emulator.now() + 60_000;
      const backdated = withState(locked.datum, { kind: "completed", resultHash, completedAt: onChainTime(w.lucid, validTo) - 600_000 });
      await honestAndAttack(w, completeSpec(w, locked, { signature, resultHash, validTo }), completeSpec(w, locked, { signature, resultHash, validTo, datum: backdated }));
    });

    it("two identical escrows completed into one continuing output (the second one's funds taken)", async () => {
      const job = w.job({ amount: 500n, deadline: w.emulator.now() + 3_600_000 });
      const [a, b] = (await w.lock([job, job])) as [EscrowUtxo, EscrowUtxo];
      expect(a.utxo.datum).toBe(b.utxo.datum);
      expect(a.utxo.assets).toEqual(b.utxo.assets);
      const resultHash = randomHex(32);
      const validTo = w.emulator.now() + 60_000;
      const signatureA = await proof(w, a, resultHash);
      const signatureB = await proof(w, b, resultHash);
      const honest = completeSpec(w, a, { signature: signatureA, resultHash, validTo });
      const attack: ManualTx = {
        ...honest,
        spends: [
          ...honest.spends,
          { escrow: b, redeemer: (i) => EscrowRedeemer.complete(i, 0, onChainSignature(signatureB), resultHash) },
        ],
      };
      await honestAndAttack(w, honest, attack);
    });

    it("disputes into a changed value", async () => {
      const spec = (assets: Assets): ManualTx => ({
        as: "requester",
        spends: [{ escrow: completed, redeemer: (i) => EscrowRedeemer.dispute(i, 0) }],
        outputs: [{ address: w.script.address, datum: encodeEscrowDatum(withState(completed.datum, { kind: "disputed" })), assets }],
        signers: [w.parties.requester.keyHash],
        validTo: w.emulator.now() + 30_000,
      });
      await honestAndAttack(w, spec(completed.utxo.assets), spec({ ...completed.utxo.assets, lovelace: completed.utxo.assets.lovelace! - 100_000n }));
    });
  });

  describe("datum size", () => {
    it("oversized result hash in the completed datum, even with a valid signature over it", async () => {
      // Sign the EIP-712 digest over a 200-byte "result" directly with the key, so only the size check can stop it.
      const big = randomHex(200);
      const structHash = keccak256(concat([`0x${completionProofTypeHash()}`, `0x${locked.escrowRef}`, `0x${locked.datum.jobHash}`, `0x${big}`]));
      const digest = keccak256(concat([`0x${eip712MessagePrefix()}`, structHash]));
      const signature = w.proofWallet.signingKey.sign(digest).serialized;
      expect(SigningKey.recoverPublicKey(digest, signature)).toBe(w.proofWallet.signingKey.publicKey);
      const resultHash = randomHex(32);
      const validTo = w.emulator.now() + 60_000;
      const completedAt = onChainTime(w.lucid, validTo);
      const honest = completeSpec(w, locked, { signature: await proof(w, locked, resultHash), resultHash, validTo });
      const bigDatum = encodeEscrowDatumUnchecked(locked.datum, big, completedAt);
      const attack = completeSpec(w, locked, { signature, resultHash: big, validTo, datumCbor: bigDatum });
      await honestAndAttack(w, honest, attack);
    });
  });

  describe("payouts", () => {
    it("claim paying the provider's NTX to another address", async () => {
      await honestAndAttack(w, claimSpec(w, claimable), claimSpec(w, claimable, { providerAddress: w.parties.outsider.address }));
    });

    it("claim paying the provider in a look-alike NTX from another policy", async () => {
      await honestAndAttack(w, claimSpec(w, claimable), claimSpec(w, claimable, { providerAssets: { [w.fakeUnit]: claimable.datum.amount } }));
    });

    it("claim keeping the requester's min-ADA", async () => {
      const requesterAssets = { lovelace: claimable.utxo.assets.lovelace! - 200_000n };
      await honestAndAttack(w, claimSpec(w, claimable), claimSpec(w, claimable, { requesterAssets }));
    });

    it("claim sending the requester's ADA to the claimant", async () => {
      await honestAndAttack(w, claimSpec(w, claimable), claimSpec(w, claimable, { requesterAddress: w.parties.provider.address }));
    });

    it("payout outputs without this escrow's tag", async () => {
      await honestAndAttack(w, claimSpec(w, claimable), claimSpec(w, claimable, { tag: payoutTag(claimable2.utxo) }));
    });

    it("double satisfaction: two escrows, one payout", async () => {
      const validFrom = w.emulator.now();
      const validTo = validFrom + 60_000;
      const honest: ManualTx = {
        as: "provider",
        spends: [
          { escrow: claimable, redeemer: (i) => EscrowRedeemer.claim(i, 0, 1) },
          { escrow: claimable2, redeemer: (i) => EscrowRedeemer.claim(i, 2, 3) },
        ],
        outputs: [...settleOutputs(w, claimable, claimable.datum.amount), ...settleOutputs(w, claimable2, claimable2.datum.amount)],
        validFrom,
        validTo,
      };
      // Both escrows point at the same pair of outputs (tagged for the first): the second escrow's NTX is stolen.
      const attack: ManualTx = {
        ...honest,
        spends: [
          { escrow: claimable, redeemer: (i) => EscrowRedeemer.claim(i, 0, 1) },
          { escrow: claimable2, redeemer: (i) => EscrowRedeemer.claim(i, 0, 1) },
        ],
        outputs: settleOutputs(w, claimable, claimable.datum.amount),
      };
      await honestAndAttack(w, honest, attack);
    });

    it("one output standing for both parties when the provider is also the requester", async () => {
      const [self] = (await w.lock([{ amount: 1_000n, payout: w.parties.requester.address }])) as [EscrowUtxo];
      const done = await completeHonestly(self, 10_000);
      const disputeHash = await w.submit(
        "requester",
        await build(w, {
          as: "requester",
          spends: [{ escrow: done, redeemer: (i) => EscrowRedeemer.dispute(i, 0) }],
          outputs: [{ address: w.script.address, datum: encodeEscrowDatum(withState(done.datum, { kind: "disputed" })), assets: done.utxo.assets }],
          signers: [w.parties.requester.keyHash],
          validTo: w.emulator.now() + 5_000,
        }),
      );
      const mine = await getEscrowUtxo(w.lucid, w.script, { txHash: disputeHash, outputIndex: 0 });
      const honest: ManualTx = {
        as: "arbiter",
        spends: [{ escrow: mine, redeemer: (i) => EscrowRedeemer.resolve(i, 0, 1, 600n) }],
        outputs: settleOutputs(w, mine, 600n),
        signers: [w.parties.arbiter.keyHash],
      };
      // A single tagged output with the larger part (600) passes both the provider's and the requester's check.
      const attack: ManualTx = {
        ...honest,
        spends: [{ escrow: mine, redeemer: (i) => EscrowRedeemer.resolve(i, 0, 0, 600n) }],
        outputs: [{ address: w.parties.requester.address, datum: payoutTag(mine.utxo), assets: { lovelace: mine.utxo.assets.lovelace!, [w.ntxUnit]: 600n } }],
      };
      await honestAndAttack(w, honest, attack);
    });

    it("resolve with a split that does not add up", async () => {
      const amount = disputed.datum.amount;
      const spec = (share: bigint, providerNtx: bigint, requesterNtx: bigint): ManualTx => ({
        as: "arbiter",
        spends: [{ escrow: disputed, redeemer: (i) => EscrowRedeemer.resolve(i, 0, 1, share) }],
        outputs: settleOutputs(w, disputed, 1n, {
          providerAssets: { [w.ntxUnit]: providerNtx },
          requesterAssets: { lovelace: disputed.utxo.assets.lovelace!, ...(requesterNtx > 0n ? { [w.ntxUnit]: requesterNtx } : {}) },
        }),
        signers: [w.parties.arbiter.keyHash],
      });
      // More than the escrow holds to the provider (the arbiter tops it up from another token source).
      await honestAndAttack(w, spec(amount / 2n, amount / 2n, amount - amount / 2n), spec(amount + 500n, amount + 500n, 1n));
      // A negative share, which would leave the requester's check trivially satisfied.
      await expect(build(w, spec(-1n, 1n, amount))).rejects.toThrow(SCRIPT_FAILURE);
    });
  });
});

/** A completed datum with a result hash of any size (the offchain codec refuses it, which is the point). */
function encodeEscrowDatumUnchecked(datum: EscrowDatum, resultHash: string, completedAt: number): string {
  const honest = encodeEscrowDatum(withState(datum, { kind: "completed", resultHash: "ab".repeat(32), completedAt }));
  const header = "5820" + "ab".repeat(32);
  const bytes = resultHash.length / 2;
  const big = (bytes <= 64 ? `58${bytes.toString(16).padStart(2, "0")}${resultHash}` : `5f${chunked(resultHash)}ff`);
  return honest.replace(header, big);
}

/** Plutus encodes byte strings over 64 bytes as indefinite-length chunks of at most 64 bytes. */
function chunked(hex: string): string {
  let out = "";
  for (let i = 0; i < hex.length; i += 128) {
    const part = hex.slice(i, i + 128);
    out += `58${(part.length / 2).toString(16).padStart(2, "0")}${part}`;
  }
  return out;
}
