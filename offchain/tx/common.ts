import { CML, getAddressDetails, slotToUnixTime } from "@lucid-evolution/lucid";
import type { Assets, LucidEvolution, TxBuilder, TxSignBuilder, UTxO } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import type { EscrowScript } from "../script.js";

/** The escrow script plus the UTxO that carries it as a reference script: every spend reads it, none inlines it. */
export interface EscrowDeployment {
  script: EscrowScript;
  referenceUtxo: UTxO;
  /** The UTxO carrying the batch script as a reference script; without it, batches carry the script inline. */
  batchReferenceUtxo?: UTxO;
}

/** How long a built transaction stays valid when no bound is forced by the escrow's own times. */
export const DEFAULT_TTL_MS = 10 * 60_000;

export function requireDeployment(deployment: EscrowDeployment): void {
  const ref = deployment.referenceUtxo.scriptRef;
  if (!ref || ref.script !== deployment.script.script.script) {
    throw new NtxError("REFERENCE_SCRIPT_MISMATCH", "the reference UTxO does not carry this escrow script");
  }
}

export function requireEscrowOf(deployment: EscrowDeployment, escrow: EscrowUtxo): void {
  if (escrow.utxo.address !== deployment.script.address) {
    throw new NtxError("NOT_AN_ESCROW", `UTxO ${escrow.utxo.txHash}#${escrow.utxo.outputIndex} is not an escrow of this script`);
  }
}

export function requireState(escrow: EscrowUtxo, kind: EscrowUtxo["datum"]["state"]["kind"], action: string): void {
  if (escrow.datum.state.kind !== kind) {
    throw new NtxError("ESCROW_STATE", `cannot ${action}: escrow is ${escrow.datum.state.kind}, not ${kind}`, {
      details: { outRef: `${escrow.utxo.txHash}#${escrow.utxo.outputIndex}` },
    });
  }
}

/** The POSIX time the script will see for a bound given as `unixTime` (Lucid rounds it down to its slot). */
export function onChainTime(lucid: LucidEvolution, unixTime: number): number {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return slotToUnixTime(network, lucid.unixTimeToSlot(unixTime));
}

export async function walletKeyHash(lucid: LucidEvolution): Promise<string> {
  const address = await lucid.wallet().address();
  const hash = getAddressDetails(address).paymentCredential?.hash;
  if (!hash) throw new NtxError("WALLET_NO_KEY", "the selected wallet has no payment key hash");
  return hash;
}

/**
 * The UPLC evaluator (`@lucid-evolution/uplc` 0.2.21) fails this way, not the script, when its WASM memory grows while
 * it copies its arguments in: its Rust side copies each input into a view of the memory's old, now detached, buffer.
 * Seen on the first large evaluation of a fresh process or thread (a 60-escrow claim, memory at its initial 1.1 MiB);
 * the same call succeeds once the memory has grown (docs/DECISIONS.md, "The evaluator's detached-buffer fault").
 */
export const EVALUATOR_MEMORY_FAULT = /detached ArrayBuffer/;
const EVALUATOR_FAULT_REBUILDS = 2;

/**
 * Lucid's build errors (including a failing script during local evaluation) as one NtxError code. With
 * `rebuildOnEvaluatorFault`, for a `build` that starts from a fresh builder every call (Lucid's builders are mutable:
 * completing the same one again adds its parts twice), a build that hit the evaluator's memory fault is built again,
 * at most twice: the fault says nothing about the transaction.
 */
export async function completeTx<T>(action: string, build: () => Promise<T>, options: { rebuildOnEvaluatorFault?: boolean } = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await build();
    } catch (cause) {
      if (cause instanceof NtxError) throw cause;
      const message = cause instanceof Error ? cause.message : String(cause);
      if (options.rebuildOnEvaluatorFault && EVALUATOR_MEMORY_FAULT.test(message) && attempt < EVALUATOR_FAULT_REBUILDS) continue;
      throw new NtxError("TX_BUILD_FAILED", `${action}: ${message}`, { cause });
    }
  }
}

/**
 * Lowers a built transaction's fee to the ledger's minimum, handing the difference back to its change (the last
 * output, which must pay the building wallet). Lucid's builder counts a reference script once per input that uses
 * it, while the ledger counts each reference script once per transaction: a claim of 50 escrows would pay about
 * 1.4 ADA more than it must. The fee and the change are not in any script's view that the escrow scripts read, so
 * the ex-units Lucid evaluated stay exact; nothing is signed yet.
 */
export async function payLedgerMinimumFee(lucid: LucidEvolution, built: TxSignBuilder, referenceScriptBytes: number): Promise<TxSignBuilder> {
  const pp = lucid.config().protocolParameters;
  if (!pp) throw new NtxError("PROTOCOL_PARAMETERS_MISSING", "Lucid has no protocol parameters");
  const tx = built.toTransaction();
  const rational = (price: number) => CML.Rational.new(BigInt(Math.round(price * 10_000_000)), 10_000_000n);
  const minimum = CML.min_fee(
    tx,
    CML.LinearFee.new(BigInt(pp.minFeeA), BigInt(pp.minFeeB), BigInt(pp.minFeeRefScriptCostPerByte)),
    CML.ExUnitPrices.new(rational(pp.priceMem), rational(pp.priceStep)),
    BigInt(referenceScriptBytes),
  );
  const body = tx.body();
  // The transaction is not signed yet: each vkey witness it will carry (the wallet's, and every required signer's)
  // adds about 101 bytes (vkey and signature with their CBOR headers); 110 is a bound.
  const signers = 1 + (body.required_signers()?.len() ?? 0);
  const excess = body.fee() - (minimum + BigInt(pp.minFeeA) * BigInt(110 * signers));
  const outputs = body.outputs();
  const change = outputs.len() > 0 ? outputs.get(outputs.len() - 1) : undefined;
  if (excess <= 0n || !change || change.address().to_bech32(undefined) !== (await lucid.wallet().address())) return built;
  // Edited as JSON text: amounts may exceed 2^53, so they are never parsed into JS numbers. Its strings (addresses,
  // hex) hold no white space, so all of it can go.
  const compact = (text: string) => text.replace(/\s+/g, "");
  const changeJson = compact(change.to_json());
  const coin = change.amount().coin();
  const newChangeJson = changeJson.replace(`"coin":${coin}`, `"coin":${coin + excess}`);
  let json = compact(body.to_json()).replace(`"fee":${body.fee()}`, `"fee":${body.fee() - excess}`);
  const at = json.lastIndexOf(changeJson);
  if (at < 0 || newChangeJson === changeJson) return built;
  json = json.slice(0, at) + newChangeJson + json.slice(at + changeJson.length);
  const trimmed = CML.Transaction.new(CML.TransactionBody.from_json(json), tx.witness_set(), tx.is_valid(), tx.auxiliary_data());
  return lucid.fromTx(trimmed.to_cbor_hex());
}

/** Bytes of the reference scripts a transaction reads (what the ledger charges for, once each). */
export function referenceScriptBytes(utxos: Array<UTxO | undefined>): number {
  return utxos.reduce((n, u) => n + (u?.scriptRef ? u.scriptRef.script.length / 2 : 0), 0);
}

/** Margin of lovelace the wallet's inputs bring beyond what the outputs take: the fee and a change output. */
const FEE_MARGIN = 5_000_000n;
/** Min-ADA a provider's payout output may need (an address with a stake part and one token). */
export const PAYOUT_OUTPUT_ADA = 2_000_000n;

/**
 * Wallet UTxOs that cover `need` plus the fee margin, largest first per asset. Every transaction that puts a script
 * input's index in a redeemer picks its wallet inputs here and builds with `complete({ coinSelection: false })`.
 * Lucid (0.4.34) builds such redeemers against the inputs its coin selection chose for a fee at the largest budgets,
 * then selects again for the evaluated fee: from a wallet of small outputs it drops an input, and when that input
 * sorted before the script's, the redeemer's index is one too high and the validator fails. A provider's claim failed
 * so in a load run (its wallet's large output was held by a Complete not yet in a block); see
 * test/offchain/redeemer-index.test.ts. With the inputs fixed before the build, the index cannot move.
 */
export async function pickWalletInputs(lucid: LucidEvolution, need: Assets): Promise<UTxO[]> {
  const utxos = (await lucid.wallet().getUtxos()).filter((u) => !u.scriptRef);
  const chosen = new Set<UTxO>();
  const want: Assets = { ...need, lovelace: (need.lovelace ?? 0n) + FEE_MARGIN };
  for (const [unit, quantity] of Object.entries(want)) {
    const have = () => [...chosen].reduce((s, u) => s + (u.assets[unit] ?? 0n), 0n);
    for (const u of [...utxos].sort((a, b) => Number((b.assets[unit] ?? 0n) - (a.assets[unit] ?? 0n)))) {
      if (have() >= quantity) break;
      if ((u.assets[unit] ?? 0n) > 0n) chosen.add(u);
    }
    if (have() < quantity) throw new NtxError("INSUFFICIENT_FUNDS", `the wallet holds ${have()} of ${unit}; this needs ${quantity}`);
  }
  return [...chosen];
}

/** `tx` spending the wallet inputs that cover `need` (see pickWalletInputs): build it with `complete({ coinSelection: false })`. */
export async function withWalletInputs(lucid: LucidEvolution, tx: TxBuilder, need: Assets = {}): Promise<TxBuilder> {
  return tx.collectFrom(await pickWalletInputs(lucid, need));
}
