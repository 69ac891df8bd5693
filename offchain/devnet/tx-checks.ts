import { CML, createCostModels, getAddressDetails, utxoToTransactionInput, utxoToTransactionOutput, valueToAssets } from "@lucid-evolution/lucid";
import type { Assets, ProtocolParameters, UTxO } from "@lucid-evolution/lucid";
import { eval_phase_two_raw } from "@lucid-evolution/uplc";
import type { EvalRequest, EvalResult } from "./script-evaluator.js";
import type { DevnetSlotConfig } from "./slot-config.js";

/**
 * The checks a node makes that Lucid's Emulator skips (it runs no Plutus script, does not compare declared
 * ex-units, does not check the value balance or the fee) or makes with messages too vague to act on (spent
 * inputs, validity range, missing signatures). Every check runs before the ledger changes, so a refused
 * transaction leaves nothing behind.
 */

export class TxRejected extends Error {
  constructor(
    readonly reason:
      | "invalid_cbor"
      | "too_large"
      | "spent_input"
      | "unknown_input"
      | "validity_range"
      | "missing_signature"
      | "invalid_signature"
      | "wrong_network"
      | "output_too_small"
      | "script_failure"
      | "ex_units"
      | "value_not_conserved"
      | "fee_too_small"
      | "collateral"
      | "stake_credential"
      | "ledger_rule",
    message: string,
  ) {
    super(message);
    this.name = "TxRejected";
  }
}

export type InputLookup = (txHash: string, index: number) => { utxo: UTxO } | { spentBy: string | undefined } | undefined;

export interface CheckContext {
  slot: number;
  slotConfig: DevnetSlotConfig;
  protocolParameters: ProtocolParameters;
  lookup: InputLookup;
  /** Whether a stake credential (its reward address, bech32 `stake_test1…`) is registered before this transaction. */
  stakeRegistered: (rewardAddress: string) => boolean;
  /** Runs the scripts (the server's evaluation thread; `evaluateOnThisThread` where no thread is wanted). */
  evaluate: Evaluate;
}

/** Runs `eval_phase_two_raw` on a request; the chain server's is a worker thread (script-evaluator.ts). */
export type Evaluate = (request: EvalRequest) => Promise<EvalResult>;

export interface CheckedTx {
  hash: string;
  tx: CML.Transaction;
  inputs: UTxO[];
  referenceInputs: UTxO[];
  collateral: UTxO[];
}

const TAGS = ["spend", "mint", "cert", "reward", "voting", "proposing"] as const;

export async function checkTransaction(cbor: Uint8Array, ctx: CheckContext): Promise<CheckedTx> {
  let tx: CML.Transaction;
  try {
    tx = CML.Transaction.from_cbor_bytes(cbor);
  } catch (error) {
    throw new TxRejected("invalid_cbor", `the body is not a valid Conway transaction in CBOR (${String(error)})`);
  }
  const body = tx.body();
  const hash = CML.hash_transaction(body).to_hex();
  if (cbor.length > ctx.protocolParameters.maxTxSize) {
    throw new TxRejected("too_large", `the transaction is ${cbor.length} bytes; the maximum is ${ctx.protocolParameters.maxTxSize}`);
  }

  const inputs = resolveAll(body.inputs(), ctx, "input");
  const referenceInputs = resolveAll(body.reference_inputs(), ctx, "reference input");
  const collateral = resolveAll(body.collateral_inputs(), ctx, "collateral input");

  checkValidityRange(body, ctx);
  checkOutputs(body, ctx.protocolParameters);
  checkSignatures(tx, hash, inputs, collateral);
  const deposits = checkStakeCredentials(body, ctx);
  checkValueConserved(body, inputs, deposits);
  checkFee(tx, inputs, referenceInputs, ctx.protocolParameters);
  await checkScripts(tx, inputs, referenceInputs, collateral, ctx);
  return { hash, tx, inputs, referenceInputs, collateral };
}

function resolveAll(list: CML.TransactionInputList | undefined, ctx: CheckContext, what: string): UTxO[] {
  const resolved: UTxO[] = [];
  for (let i = 0; i < (list?.len() ?? 0); i++) {
    const input = list!.get(i);
    const txHash = input.transaction_id().to_hex();
    const index = Number(input.index());
    const found = ctx.lookup(txHash, index);
    if (found === undefined) {
      throw new TxRejected("unknown_input", `${what} ${txHash}#${index} does not exist on this chain (never created, or its transaction is unknown)`);
    }
    if (!("utxo" in found)) {
      const by = found.spentBy ? ` by transaction ${found.spentBy}` : "";
      throw new TxRejected("spent_input", `${what} ${txHash}#${index} was already spent${by}: rebuild the transaction from current UTxOs`);
    }
    resolved.push(found.utxo);
  }
  return resolved;
}

function checkValidityRange(body: CML.TransactionBody, ctx: CheckContext): void {
  const start = body.validity_interval_start();
  const ttl = body.ttl();
  const time = (slot: number) => {
    const date = new Date(ctx.slotConfig.zeroTime + (slot - ctx.slotConfig.zeroSlot) * ctx.slotConfig.slotLength);
    return Number.isNaN(date.getTime()) ? "out of range" : date.toISOString();
  };
  if (start !== undefined && BigInt(ctx.slot) < start) {
    throw new TxRejected("validity_range", `outside its validity range: valid from slot ${start} (${time(Number(start))}) but the chain is at slot ${ctx.slot} (${time(ctx.slot)})`);
  }
  // The ledger's upper bound is exclusive: a tx with ttl T is valid in slots < T.
  if (ttl !== undefined && BigInt(ctx.slot) >= ttl) {
    throw new TxRejected("validity_range", `outside its validity range: expired at slot ${ttl} (${time(Number(ttl))}); the chain is at slot ${ctx.slot} (${time(ctx.slot)})`);
  }
}

/** The devnet is a testnet (network id 0), and every output must carry the ledger's minimum ADA for its size. */
function checkOutputs(body: CML.TransactionBody, pp: ProtocolParameters): void {
  const outputs = body.outputs();
  for (let i = 0; i < outputs.len(); i++) {
    const output = outputs.get(i);
    const address = output.address();
    if (address.network_id() !== 0) {
      throw new TxRejected("wrong_network", `output ${i} pays to ${address.to_bech32(undefined)}, an address of another network; the devnet uses testnet addresses (network id 0)`);
    }
    const minimum = CML.min_ada_required(output, pp.coinsPerUtxoByte);
    if (output.amount().coin() < minimum) {
      throw new TxRejected("output_too_small", `output ${i} holds ${output.amount().coin()} lovelace; its size needs at least ${minimum}`);
    }
  }
}

function checkSignatures(tx: CML.Transaction, hash: string, inputs: UTxO[], collateral: UTxO[]): void {
  const witnesses = tx.witness_set().vkeywitnesses();
  const signed = new Set<string>();
  const hashBytes = Buffer.from(hash, "hex");
  for (let i = 0; i < (witnesses?.len() ?? 0); i++) {
    const witness = witnesses!.get(i);
    const keyHash = witness.vkey().hash().to_hex();
    if (!witness.vkey().verify(hashBytes, witness.ed25519_signature())) {
      throw new TxRejected("invalid_signature", `the signature of key ${keyHash} does not verify against transaction ${hash}`);
    }
    signed.add(keyHash);
  }
  const required = tx.body().required_signers();
  for (let i = 0; i < (required?.len() ?? 0); i++) {
    const keyHash = required!.get(i).to_hex();
    if (!signed.has(keyHash)) throw new TxRejected("missing_signature", `missing signature: required signer ${keyHash} did not sign`);
  }
  for (const [what, list] of [["input", inputs], ["collateral input", collateral]] as const) {
    for (const utxo of list) {
      const credential = getAddressDetails(utxo.address).paymentCredential;
      if (credential?.type === "Key" && !signed.has(credential.hash)) {
        throw new TxRejected("missing_signature", `missing signature: ${what} ${utxo.txHash}#${utxo.outputIndex} belongs to key ${credential.hash}, which did not sign`);
      }
    }
  }
}

function addInto(target: Assets, assets: Assets, sign: 1n | -1n): void {
  for (const [unit, quantity] of Object.entries(assets)) {
    const next = (target[unit] ?? 0n) + sign * quantity;
    if (next === 0n) delete target[unit];
    else target[unit] = next;
  }
}

/** Lovelace a transaction's certificates lock as deposits (`taken`) and hand back (`refunded`). */
interface Deposits {
  taken: bigint;
  refunded: bigint;
}

/**
 * Stake credentials as the ledger keeps them (the withdraw-zero batch script is one): a withdrawal names a
 * registered credential and takes exactly its reward balance (the devnet pays no rewards: 0); a registration
 * certificate takes the key deposit (a Conway one must state it), a deregistration refunds it; a credential is
 * registered at most once. Certificates the devnet does not apply (pools, DReps, votes, committee) are refused
 * rather than accepted without effect. The Emulator's own rules (script witnesses for certificates) run after.
 */
function checkStakeCredentials(body: CML.TransactionBody, ctx: CheckContext): Deposits {
  const keyDeposit = ctx.protocolParameters.keyDeposit;
  const withdrawals = body.withdrawals();
  const keys = withdrawals?.keys();
  for (let i = 0; i < (keys?.len() ?? 0); i++) {
    const rewardAddress = keys!.get(i);
    const bech32 = rewardAddress.to_address().to_bech32(undefined);
    if (rewardAddress.to_address().network_id() !== 0) {
      throw new TxRejected("wrong_network", `withdrawal from ${bech32}, a reward address of another network; the devnet uses testnet addresses (network id 0)`);
    }
    if (!ctx.stakeRegistered(bech32)) {
      throw new TxRejected("stake_credential", `withdrawal from ${bech32}: its stake credential is not registered (a registration certificate must be on-chain first)`);
    }
    const amount = withdrawals!.get(rewardAddress) ?? 0n;
    if (amount !== 0n) throw new TxRejected("stake_credential", `withdrawal of ${amount} lovelace from ${bech32}: its reward balance is 0 (the devnet pays no rewards)`);
  }
  const deposits: Deposits = { taken: 0n, refunded: 0n };
  /** Registrations as this transaction's earlier certificates left them. */
  const changed = new Map<string, boolean>();
  const certs = body.certs();
  for (let i = 0; i < (certs?.len() ?? 0); i++) {
    const cert = certs!.get(i);
    const kind = cert.kind();
    const credential =
      kind === CML.CertificateKind.StakeRegistration ? cert.as_stake_registration()!.stake_credential()
      : kind === CML.CertificateKind.RegCert ? cert.as_reg_cert()!.stake_credential()
      : kind === CML.CertificateKind.StakeDeregistration ? cert.as_stake_deregistration()!.stake_credential()
      : kind === CML.CertificateKind.StakeDelegation ? cert.as_stake_delegation()!.stake_credential()
      : undefined;
    if (!credential) throw new TxRejected("ledger_rule", `certificate ${i} is of a kind the devnet does not model (${CML.CertificateKind[kind] ?? kind}); it models stake registration, deregistration and delegation`);
    const bech32 = CML.RewardAddress.new(0, credential).to_address().to_bech32(undefined);
    const registered = changed.get(bech32) ?? ctx.stakeRegistered(bech32);
    if (kind === CML.CertificateKind.StakeRegistration || kind === CML.CertificateKind.RegCert) {
      if (registered) throw new TxRejected("stake_credential", `certificate ${i} registers ${bech32}, which is already registered`);
      const stated = kind === CML.CertificateKind.RegCert ? cert.as_reg_cert()!.deposit() : keyDeposit;
      if (stated !== keyDeposit) throw new TxRejected("stake_credential", `certificate ${i} states a deposit of ${stated} lovelace; the key deposit is ${keyDeposit}`);
      deposits.taken += keyDeposit;
      changed.set(bech32, true);
    } else if (kind === CML.CertificateKind.StakeDeregistration) {
      if (!registered) throw new TxRejected("stake_credential", `certificate ${i} deregisters ${bech32}, which is not registered`);
      deposits.refunded += keyDeposit;
      changed.set(bech32, false);
    } else if (!registered) {
      throw new TxRejected("stake_credential", `certificate ${i} delegates ${bech32}, which is not registered`);
    }
  }
  return deposits;
}

function checkValueConserved(body: CML.TransactionBody, inputs: UTxO[], deposits: Deposits): void {
  const balance: Assets = {};
  for (const utxo of inputs) addInto(balance, utxo.assets, 1n);
  const mint = body.mint();
  if (mint) {
    addInto(balance, valueToAssets(CML.Value.new(0n, mint.as_positive_multiasset())), 1n);
    addInto(balance, valueToAssets(CML.Value.new(0n, mint.as_negative_multiasset())), -1n);
  }
  const withdrawals = body.withdrawals();
  if (withdrawals) {
    const keys = withdrawals.keys();
    for (let i = 0; i < keys.len(); i++) addInto(balance, { lovelace: withdrawals.get(keys.get(i)) ?? 0n }, 1n);
  }
  addInto(balance, { lovelace: deposits.refunded }, 1n);
  const outputs = body.outputs();
  for (let i = 0; i < outputs.len(); i++) addInto(balance, valueToAssets(outputs.get(i).amount()), -1n);
  addInto(balance, { lovelace: body.fee() }, -1n);
  addInto(balance, { lovelace: body.donation() ?? 0n }, -1n);
  addInto(balance, { lovelace: deposits.taken }, -1n);
  const off = Object.entries(balance).filter(([, q]) => q !== 0n);
  if (off.length > 0) {
    throw new TxRejected("value_not_conserved", `value not conserved: inputs + mint + withdrawals + refunds - outputs - fee - deposits is ${off.map(([u, q]) => `${q} ${u}`).join(", ")} (must be zero)`);
  }
}

function checkFee(tx: CML.Transaction, inputs: UTxO[], referenceInputs: UTxO[], pp: ProtocolParameters): void {
  let refScriptBytes = 0n;
  for (const utxo of [...inputs, ...referenceInputs]) if (utxo.scriptRef) refScriptBytes += BigInt(utxo.scriptRef.script.length / 2);
  const linear = CML.LinearFee.new(BigInt(pp.minFeeA), BigInt(pp.minFeeB), BigInt(pp.minFeeRefScriptCostPerByte));
  const prices = CML.ExUnitPrices.new(toRational(pp.priceMem), toRational(pp.priceStep));
  const minimum = CML.min_fee(tx, linear, prices, refScriptBytes);
  const fee = tx.body().fee();
  if (fee < minimum) throw new TxRejected("fee_too_small", `fee too small: ${fee} lovelace declared, at least ${minimum} required`);
}

function toRational(price: number): CML.Rational {
  const denominator = 10_000_000n;
  return CML.Rational.new(BigInt(Math.round(price * Number(denominator))), denominator);
}

async function checkScripts(tx: CML.Transaction, inputs: UTxO[], referenceInputs: UTxO[], collateral: UTxO[], ctx: CheckContext): Promise<void> {
  const redeemers = tx.witness_set().redeemers()?.to_flat_format();
  if (!redeemers || redeemers.len() === 0) return;
  if (collateral.length === 0) throw new TxRejected("collateral", "the transaction runs Plutus scripts but has no collateral input");
  const pp = ctx.protocolParameters;
  const body = tx.body();
  const offered = collateral.reduce((a, u) => a + (u.assets.lovelace ?? 0n), 0n) - (body.collateral_return()?.amount().coin() ?? 0n);
  const required = (body.fee() * BigInt(pp.collateralPercentage) + 99n) / 100n;
  if (offered < required) throw new TxRejected("collateral", `collateral of ${offered} lovelace is below ${pp.collateralPercentage}% of the fee (${required} lovelace)`);

  const declared = new Map<string, { mem: bigint; steps: bigint }>();
  let totalMem = 0n;
  let totalSteps = 0n;
  for (let i = 0; i < redeemers.len(); i++) {
    const r = redeemers.get(i);
    const units = { mem: r.ex_units().mem(), steps: r.ex_units().steps() };
    declared.set(`${TAGS[r.tag()] ?? r.tag()}:${r.index()}`, units);
    totalMem += units.mem;
    totalSteps += units.steps;
  }
  if (totalMem > pp.maxTxExMem || totalSteps > pp.maxTxExSteps) {
    throw new TxRejected("ex_units", `declared ex-units ${totalMem} mem / ${totalSteps} steps exceed the per-transaction maximum ${pp.maxTxExMem} / ${pp.maxTxExSteps}`);
  }

  const evaluated = await evaluateRedeemers(tx, [...inputs, ...referenceInputs], pp, ctx.slotConfig, ctx.evaluate);
  for (const { tag, index, mem, steps } of evaluated) {
    const key = `${tag}:${index}`;
    const need = { mem, steps };
    const have = declared.get(key);
    if (!have) throw new TxRejected("ex_units", `redeemer ${key} was evaluated but the transaction declares no ex-units for it`);
    if (have.mem < need.mem || have.steps < need.steps) {
      throw new TxRejected("ex_units", `declared ex-units for ${key} are too small: ${have.mem} mem / ${have.steps} steps declared, ${need.mem} / ${need.steps} used`);
    }
  }
}

export interface EvaluatedRedeemer {
  tag: (typeof TAGS)[number];
  index: number;
  mem: bigint;
  steps: bigint;
}

/**
 * Runs every script of the transaction with Lucid's own evaluator (the call Lucid's complete() makes for local
 * evaluation), each with the whole per-transaction budget; returns what each redeemer used. Throws TxRejected
 * with the evaluator's message (it carries the script's trace) when a script fails.
 */
export async function evaluateRedeemers(tx: CML.Transaction, utxos: UTxO[], pp: ProtocolParameters, slotConfig: DevnetSlotConfig, evaluate: Evaluate): Promise<EvaluatedRedeemer[]> {
  // The evaluator needs each resolved output once; a reference input may also be spent.
  const seen = new Set<string>();
  const resolved = utxos.filter((u) => {
    const key = `${u.txHash}#${u.outputIndex}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const result = await evaluate({
    tx: tx.to_cbor_bytes(),
    inputs: resolved.map((u) => utxoToTransactionInput(u).to_cbor_bytes()),
    outputs: resolved.map((u) => utxoToTransactionOutput(u).to_cbor_bytes()),
    costModels: createCostModels(pp.costModels).to_cbor_bytes(),
    maxSteps: pp.maxTxExSteps,
    maxMem: pp.maxTxExMem,
    zeroTime: BigInt(slotConfig.zeroTime),
    zeroSlot: BigInt(slotConfig.zeroSlot),
    slotLength: slotConfig.slotLength,
  });
  if (!result.ok) throw new TxRejected("script_failure", `script failure: ${result.failure.replace(/\\n\s*/g, " ").trim()}`);
  return result.redeemers.map((bytes) => {
    const r = CML.LegacyRedeemer.from_cbor_bytes(bytes);
    return { tag: TAGS[r.tag()] ?? "spend", index: Number(r.index()), mem: r.ex_units().mem(), steps: r.ex_units().steps() };
  });
}

/** The evaluator on the calling thread (a ledger without a server: tools and tests of the ledger alone). */
export const evaluateOnThisThread: Evaluate = async (r) => {
  try {
    return { ok: true, redeemers: eval_phase_two_raw(r.tx, r.inputs, r.outputs, r.costModels, r.maxSteps, r.maxMem, r.zeroTime, r.zeroSlot, r.slotLength) };
  } catch (error) {
    return { ok: false, failure: typeof error === "string" ? error : error instanceof Error ? error.message : JSON.stringify(error) };
  }
};
