import { readFileSync } from "node:fs";
import { Constr, Data, applyDoubleCborEncoding, credentialToAddress, validatorToAddress, type Script, type UTxO } from "@lucid-evolution/lucid";
import type { Assets, TxSignBuilder } from "../../offchain/emulator.js";
import { beforeAll, describe, expect, it } from "vitest";
import type { LeaseUtxo } from "../../offchain/index.js";
import { FAKE_NTX, type Role } from "../helpers/emulator.js";
import { LEASE_RATE, createLeaseWorld, type LeaseWorld } from "../helpers/lease.js";

/*
 * Attacks on the lease validator, each transaction assembled by hand from contracts/plutus.json: the script comes
 * from the blueprint's lease.spend, redeemers and datums are raw Constr data, amounts are computed here from the rule
 * the blueprint states (owed(t) = floor(rate × (min(t, end) − lastClaim) / 1000), at most the balance; a continuing
 * output at the output index equal to the lease's input index; Close/Settle outputs tagged with the out-ref). The
 * project's builders only set the scene (open). Every attack has an honest twin, built the same way, that must pass
 * Lucid's local evaluation; the attack differs in one thing and must fail in the script.
 */

const SCRIPT_FAILURE = /failed script execution/i;
const MAX_CLOSE_WINDOW_MS = 600_000;

const blueprint = JSON.parse(readFileSync(new URL("../../contracts/plutus.json", import.meta.url), "utf8")) as {
  validators: Array<{ title: string; compiledCode: string; parameters: unknown[] }>;
};
const leaseBlueprint = blueprint.validators.find((v) => v.title === "lease.spend")!;
const leaseScript: Script = { type: "PlutusV3", script: applyDoubleCborEncoding(leaseBlueprint.compiledCode) };

const R = {
  claim: (i: bigint) => Data.to(new Constr(0, [i])),
  topUp: (i: bigint, newEnd: number) => Data.to(new Constr(1, [i, BigInt(newEnd)])),
  close: (i: bigint, p: number, b: number) => Data.to(new Constr(2, [i, BigInt(p), BigInt(b)])),
  settle: (i: bigint, p: number, b: number) => Data.to(new Constr(3, [i, BigInt(p), BigInt(b)])),
};
const FIELD = { buyer: 0, provider: 1, policy: 2, name: 3, rate: 4, lastClaim: 5, end: 6, notice: 7, jobHash: 8 } as const;

/** The lease's datum with some fields replaced, as raw Data. */
function datumWith(utxo: UTxO, changes: Partial<Record<keyof typeof FIELD, unknown>>): string {
  const d = Data.from(utxo.datum!) as Constr<unknown>;
  const fields = [...d.fields];
  for (const [k, v] of Object.entries(changes)) fields[FIELD[k as keyof typeof FIELD]] = v;
  return Data.to(new Constr(0, fields.filter((f) => f !== undefined)) as Data);
}
const tagOf = (utxo: UTxO) => Data.to(new Constr(0, [utxo.txHash, BigInt(utxo.outputIndex)]));

/** What the blueprint's rule owes the provider at POSIX ms `t`. */
function owed(l: LeaseUtxo, t: number): bigint {
  const a = (l.datum.rate * BigInt(Math.min(t, l.datum.end) - l.datum.lastClaim)) / 1000n;
  return a <= 0n ? 0n : a < l.balance ? a : l.balance;
}

interface Spend {
  utxo: UTxO;
  redeemer: (inputIndex: bigint, firstExtraOutput: number) => string;
  /** Put at the output index equal to this input's index (or `atIndex` to move it). */
  continuing?: { datum: string; assets: Assets };
}
interface Out {
  address: string;
  datum?: string;
  assets: Assets;
}
interface Spec {
  as: Role;
  spends: Spend[];
  /** Outputs after the positional ones (Close/Settle payouts). */
  extra?: Out[];
  signers?: string[];
  validFrom?: number | null;
  validTo?: number;
  /** Rearranges the positional outputs before they are added (to misplace a continuing output). */
  shuffle?: (outs: Out[]) => Out[];
}

const byInputOrder = (a: UTxO, b: UTxO) => (a.txHash < b.txHash ? -1 : a.txHash > b.txHash ? 1 : a.outputIndex - b.outputIndex);

async function build(w: LeaseWorld, spec: Spec): Promise<TxSignBuilder> {
  const lucid = w.as(spec.as);
  const wallet = await lucid.wallet().address();
  const fees = (await lucid.wallet().getUtxos()).filter((u) => !u.scriptRef);
  const order = [...spec.spends.map((s) => s.utxo), ...fees].sort(byInputOrder);
  const key = (u: UTxO) => `${u.txHash}#${u.outputIndex}`;
  const spendOf = new Map(spec.spends.map((s) => [key(s.utxo), s]));
  const last = Math.max(-1, ...order.map((u, i) => (spendOf.get(key(u))?.continuing ? i : -1)));
  let positional: Out[] = [];
  for (let i = 0; i <= last; i++) {
    const c = spendOf.get(key(order[i]!))?.continuing;
    positional.push(c ? { address: w.lease.address, datum: c.datum, assets: c.assets } : { address: wallet, assets: { lovelace: 1_500_000n } });
  }
  if (spec.shuffle) positional = spec.shuffle(positional);
  let tx = lucid.newTx().readFrom([w.leaseDeployment.referenceUtxo!]).collectFrom(fees);
  for (const [i, u] of order.entries()) {
    const s = spendOf.get(key(u));
    if (s) tx = tx.collectFrom([u], s.redeemer(BigInt(i), positional.length));
  }
  for (const o of [...positional, ...(spec.extra ?? [])]) {
    tx = o.datum === undefined ? tx.pay.ToAddress(o.address, o.assets) : tx.pay.ToAddressWithData(o.address, { kind: "inline", value: o.datum }, o.assets);
  }
  for (const k of spec.signers ?? []) tx = tx.addSignerKey(k);
  const now = w.emulator.now();
  if (spec.validFrom !== null) tx = tx.validFrom(spec.validFrom ?? now);
  tx = tx.validTo(spec.validTo ?? now + 60_000);
  return tx.complete({ coinSelection: false });
}

async function honestAndAttack(w: LeaseWorld, honest: Spec, attack: Spec): Promise<void> {
  await expect(build(w, honest)).resolves.toBeDefined();
  await expect(build(w, attack)).rejects.toThrow(SCRIPT_FAILURE);
}

const leaseAssets = (w: LeaseWorld, l: LeaseUtxo, balance: bigint, unit = w.ntxUnit): Assets => (balance > 0n ? { lovelace: l.lovelace, [unit]: balance } : { lovelace: l.lovelace });

/** A claim at `t` (the lower bound) of `amount` (default: what is owed), continuing with lastClaim = min(t, end). */
function claimSpend(w: LeaseWorld, l: LeaseUtxo, t: number, o: { amount?: bigint; lastClaim?: number; datum?: string; assets?: Assets } = {}): Spend {
  const amount = o.amount ?? owed(l, t);
  return {
    utxo: l.utxo,
    redeemer: (i) => R.claim(i),
    continuing: {
      datum: o.datum ?? datumWith(l.utxo, { lastClaim: BigInt(o.lastClaim ?? Math.min(t, l.datum.end)) }),
      assets: o.assets ?? leaseAssets(w, l, l.balance - amount),
    },
  };
}

function claimSpec(w: LeaseWorld, l: LeaseUtxo, o: Parameters<typeof claimSpend>[3] & { as?: Role; t?: number; validTo?: number } = {}): Spec {
  const t = o.t ?? w.emulator.now();
  return { as: o.as ?? "provider", spends: [claimSpend(w, l, t, o)], signers: [w.parties[o.as ?? "provider"].keyHash], validFrom: t, validTo: o.validTo };
}

function topUpSpec(w: LeaseWorld, l: LeaseUtxo, add: bigint, newEnd: number, o: { unit?: string; as?: Role; datumEnd?: number; validTo?: number } = {}): Spec {
  const as = o.as ?? "requester";
  const assets: Assets = { lovelace: l.lovelace, [w.ntxUnit]: l.balance };
  if (o.unit && o.unit !== w.ntxUnit) assets[o.unit] = add;
  else assets[w.ntxUnit] = l.balance + add;
  return {
    as,
    spends: [{ utxo: l.utxo, redeemer: (i) => R.topUp(i, newEnd), continuing: { datum: datumWith(l.utxo, { end: BigInt(o.datumEnd ?? newEnd) }), assets } }],
    signers: [w.parties[as].keyHash],
    validFrom: null,
    validTo: o.validTo ?? w.emulator.now() + 60_000,
  };
}

/** Close or Settle paying `share` to the provider and the rest to the buyer, tagged with the lease's out-ref. */
function payoutsOf(w: LeaseWorld, l: LeaseUtxo, share: bigint, o: { tag?: string; buyerAddress?: string; providerAddress?: string } = {}): Out[] {
  const tag = o.tag ?? tagOf(l.utxo);
  const outs: Out[] = [];
  if (share > 0n) outs.push({ address: o.providerAddress ?? l.datum.provider, datum: tag, assets: { [w.ntxUnit]: share } });
  const rest = l.balance - share;
  outs.push({
    address: o.buyerAddress ?? credentialToAddress("Custom", { type: "Key", hash: l.datum.buyer }),
    datum: tag,
    assets: rest > 0n ? { lovelace: l.lovelace, [w.ntxUnit]: rest } : { lovelace: l.lovelace },
  });
  return outs;
}

function closeSpec(w: LeaseWorld, l: LeaseUtxo, windowMs: number, o: { share?: bigint; as?: Role } = {}): Spec {
  const from = w.emulator.now();
  const share = o.share ?? owed(l, from + windowMs);
  const as = o.as ?? "requester";
  return {
    as,
    spends: [{ utxo: l.utxo, redeemer: (i, first) => R.close(i, first, share > 0n ? first + 1 : first) }],
    extra: payoutsOf(w, l, share),
    signers: [w.parties[as].keyHash],
    validFrom: from,
    validTo: from + windowMs,
  };
}

function settleSpec(w: LeaseWorld, l: LeaseUtxo, o: { share?: bigint } = {}): Spec {
  const share = o.share ?? owed(l, l.datum.end);
  return {
    as: "outsider",
    spends: [{ utxo: l.utxo, redeemer: (i, first) => R.settle(i, first, share > 0n ? first + 1 : first) }],
    extra: payoutsOf(w, l, share),
  };
}

/** A lease written by hand: `like`'s datum with `changes`, holding `balance` of NTX and `lovelace`. */
async function openRaw(w: LeaseWorld, like: LeaseUtxo, changes: Partial<Record<keyof typeof FIELD, unknown>>, balance: bigint, lovelace = 5_000_000n): Promise<LeaseUtxo> {
  const tx = await w.as("requester").newTx().pay.ToContract(w.lease.address, { kind: "inline", value: datumWith(like.utxo, changes) }, { lovelace, [w.ntxUnit]: balance }).complete();
  return w.reread({ txHash: await w.submit("requester", tx), outputIndex: 0 });
}

describe("lease validator attacks, built by hand from plutus.json", () => {
  let w: LeaseWorld;
  /** Two leases with identical datum and value (one buyer, one provider, opened together). */
  let twins: [LeaseUtxo, LeaseUtxo];
  let lease: LeaseUtxo;
  /** A lease that ends 400 s after it starts (after the other attacks ran). */
  let short: LeaseUtxo;

  beforeAll(async () => {
    w = await createLeaseWorld();
    expect(leaseBlueprint.parameters).toEqual([]);
    expect(validatorToAddress("Custom", leaseScript)).toBe(w.lease.address);
    twins = (await w.openMany(2)) as [LeaseUtxo, LeaseUtxo];
    expect(twins[0].utxo.datum).toBe(twins[1].utxo.datum);
    lease = await w.open();
    // Ends 400 s after it starts but holds twice that: what accrues past the end must still go back to the buyer.
    const start = w.emulator.now() + 20_000;
    short = await openRaw(w, lease, { lastClaim: BigInt(start), end: BigInt(start + 400_000) }, LEASE_RATE * 800n);
    w.emulator.awaitSlot(60);
  }, 120_000);

  it("over-claim: the continuing output keeps one unit less than balance − owed", async () => {
    const t = w.emulator.now();
    expect(owed(lease, t)).toBeGreaterThan(0n);
    await honestAndAttack(w, claimSpec(w, lease), claimSpec(w, lease, { amount: owed(lease, t) + 1n }));
  });

  it("claim rounding: one unit above the floor of rate × elapsed, or lastClaim moved less far than the bound", async () => {
    const t = w.emulator.now();
    // Bounds are whole slots, so a lease whose lastClaim sits half-way through a second accrues a fraction.
    const odd = await openRaw(w, lease, { rate: 1_333n, lastClaim: BigInt(t - 10_500) }, 10_000_000n);
    const t2 = w.emulator.now();
    expect((odd.datum.rate * BigInt(t2 - odd.datum.lastClaim)) % 1000n).not.toBe(0n);
    await honestAndAttack(w, claimSpec(w, odd), claimSpec(w, odd, { amount: owed(odd, t2) + 1n }));
    // Claiming the full accrual while recording an earlier lastClaim would let the same time be claimed twice.
    await honestAndAttack(w, claimSpec(w, lease), claimSpec(w, lease, { lastClaim: t - 10_000, amount: owed(lease, w.emulator.now()) }));
  });

  it("claim by a wide validity window: paid to the upper bound instead of the lower, or with no lower bound", async () => {
    const t = w.emulator.now();
    const from = t - 30_000;
    const to = t + 300_000;
    await honestAndAttack(w, claimSpec(w, lease, { t: from, validTo: to }), claimSpec(w, lease, { t: from, validTo: to, amount: owed(lease, to), lastClaim: from }));
    const unbounded: Spec = { ...claimSpec(w, lease), validFrom: null };
    await honestAndAttack(w, claimSpec(w, lease), unbounded);
  });

  it("wrong signer: a claim not signed by the provider's key", async () => {
    await honestAndAttack(w, claimSpec(w, lease), claimSpec(w, lease, { as: "outsider" }));
  });

  it("double satisfaction: two identical leases claimed with one continuing output", async () => {
    const t = w.emulator.now();
    const honest: Spec = { as: "provider", spends: twins.map((l) => claimSpend(w, l, t)), signers: [w.parties.provider.keyHash], validFrom: t };
    // The same (identical) continuing output would satisfy both: the second lease's position gets a wallet output.
    const attack: Spec = {
      ...honest,
      shuffle: (outs) => {
        const cont = outs.filter((o) => o.address === w.lease.address);
        expect(cont).toHaveLength(2);
        const first = outs.indexOf(cont[0]!);
        const second = outs.indexOf(cont[1]!);
        return outs.map((o, i) => (i === second ? { address: w.parties.provider.address, assets: o.assets } : i === first ? o : o));
      },
    };
    await honestAndAttack(w, honest, attack);
  });

  it("double satisfaction: two identical leases closed with one pair of tagged payouts", async () => {
    const from = w.emulator.now();
    const share = owed(twins[0], from + 60_000);
    const both = (extra: Out[], secondAt: number) => ({
      as: "requester" as const,
      spends: twins.map((l, k) => ({ utxo: l.utxo, redeemer: (i: bigint, first: number) => R.close(i, first + (k === 0 ? 0 : secondAt), first + (k === 0 ? 1 : secondAt + 1)) })),
      extra,
      signers: [w.parties.requester.keyHash],
      validFrom: from,
      validTo: from + 60_000,
    });
    await honestAndAttack(w, both([...payoutsOf(w, twins[0], share), ...payoutsOf(w, twins[1], share)], 2), both(payoutsOf(w, twins[0], share), 0));
  });

  it("datum tamper on the continuing output: rate, end, buyer, provider, asset, notice or jobHash changed", async () => {
    const t = w.emulator.now();
    const last = BigInt(Math.min(t, lease.datum.end));
    const tampered: Array<Partial<Record<keyof typeof FIELD, unknown>>> = [
      { rate: LEASE_RATE * 2n },
      { end: BigInt(lease.datum.end + 3_600_000) },
      { buyer: w.parties.provider.keyHash },
      { provider: new Constr(0, [new Constr(0, [w.parties.outsider.keyHash]), new Constr(1, [])]) },
      { policy: FAKE_NTX.policyId },
      { notice: 0n },
      // The job it pays for: re-pointing a funded lease at another job would make the provider run (and be paid
      // for) a job the buyer never leased.
      { jobHash: "ab".repeat(32) },
      // The binding dropped altogether (an eight-field datum, as before jobHash existed).
      { jobHash: undefined },
    ];
    await expect(build(w, claimSpec(w, lease))).resolves.toBeDefined();
    for (const change of tampered) {
      await expect(build(w, claimSpec(w, lease, { datum: datumWith(lease.utxo, { lastClaim: last, ...change }) }))).rejects.toThrow(SCRIPT_FAILURE);
    }
  });

  it("continuing output moved to another address, or its lovelace taken", async () => {
    const t = w.emulator.now();
    const spend = claimSpend(w, lease, t);
    await honestAndAttack(w, claimSpec(w, lease), { ...claimSpec(w, lease), shuffle: (outs) => outs.map((o) => (o.address === w.lease.address ? { ...o, address: w.parties.provider.address } : o)) });
    const rich = await openRaw(w, lease, {}, lease.balance, 10_000_000n);
    const richSpend = claimSpend(w, rich, w.emulator.now());
    await honestAndAttack(w, claimSpec(w, rich), claimSpec(w, rich, { assets: { ...richSpend.continuing!.assets, lovelace: rich.lovelace - 1_000_000n } }));
    void spend;
  });

  it("fake NTX: the continuing output holds a same-named token of another policy instead", async () => {
    const t = w.emulator.now();
    const rest = lease.balance - owed(lease, t);
    await honestAndAttack(w, claimSpec(w, lease), claimSpec(w, lease, { assets: { lovelace: lease.lovelace, [w.fakeUnit]: rest } }));
    // A top-up paid in the look-alike token.
    const add = LEASE_RATE * 600n;
    await honestAndAttack(w, topUpSpec(w, lease, add, lease.datum.end + 600_000), topUpSpec(w, lease, add, lease.datum.end + 600_000, { unit: w.fakeUnit }));
  });

  it("top-up that shrinks the end, does not fund the extension, or is signed by someone else", async () => {
    const add = LEASE_RATE * 600n;
    const honest = topUpSpec(w, lease, add, lease.datum.end + 600_000);
    await honestAndAttack(w, honest, topUpSpec(w, lease, add, lease.datum.end - 600_000));
    await honestAndAttack(w, honest, topUpSpec(w, lease, add - 1n, lease.datum.end + 600_000));
    await honestAndAttack(w, honest, topUpSpec(w, lease, add, lease.datum.end + 600_000, { datumEnd: lease.datum.end + 601_000 }));
    await honestAndAttack(w, honest, topUpSpec(w, lease, add, lease.datum.end + 600_000, { as: "outsider" }));
  });

  it("close with a validity window over the cap, paying the provider short, or by someone else than the buyer", async () => {
    await honestAndAttack(w, closeSpec(w, lease, MAX_CLOSE_WINDOW_MS), closeSpec(w, lease, MAX_CLOSE_WINDOW_MS + 1_000));
    // A huge window would also let the close be held back and submitted much later: refused whatever it pays.
    await honestAndAttack(w, closeSpec(w, lease, 60_000), closeSpec(w, lease, 30 * 86_400_000));
    const from = w.emulator.now();
    await honestAndAttack(w, closeSpec(w, lease, 60_000), closeSpec(w, lease, 60_000, { share: owed(lease, from + 60_000) - 1n }));
    await honestAndAttack(w, closeSpec(w, lease, 60_000), closeSpec(w, lease, 60_000, { as: "provider" }));
  });

  it("settle before the end; then, after it, a settle paying the provider past the end", async () => {
    expect(w.emulator.now()).toBeLessThan(short.datum.end);
    await expect(build(w, settleSpec(w, short))).rejects.toThrow(SCRIPT_FAILURE);
    w.emulator.awaitSlot(Math.ceil((short.datum.end - w.emulator.now()) / 1000) + 5);
    const past = owed({ ...short, datum: { ...short.datum, end: Number.MAX_SAFE_INTEGER } } as LeaseUtxo, w.emulator.now());
    expect(past).toBeGreaterThan(owed(short, short.datum.end));
    await honestAndAttack(w, settleSpec(w, short), settleSpec(w, short, { share: past }));
  });

  it("claim past the end: accrual beyond end, or lastClaim beyond end", async () => {
    const t = w.emulator.now();
    expect(t).toBeGreaterThan(short.datum.end);
    const beyond = (short.datum.rate * BigInt(t - short.datum.lastClaim)) / 1000n;
    await honestAndAttack(w, claimSpec(w, short), claimSpec(w, short, { amount: beyond, lastClaim: t }));
    await honestAndAttack(w, claimSpec(w, short), claimSpec(w, short, { lastClaim: t }));
  });

  it("top-up after the end is refused (settle and open a new lease instead)", async () => {
    const add = LEASE_RATE * 600n;
    const after = w.emulator.now() + 60_000;
    await honestAndAttack(w, topUpSpec(w, lease, add, lease.datum.end + 600_000), topUpSpec(w, short, add, short.datum.end + 600_000, { validTo: after }));
  });
});

