import { CML, validatorToScriptHash } from "@lucid-evolution/lucid";
import type { Assets, ProtocolParameters, UTxO } from "@lucid-evolution/lucid";
import type { BlockRecord, RecordedInput, TxRecord } from "./ledger.js";
import type { DevnetSlotConfig } from "./slot-config.js";
import { RecentMap } from "../recent-map.js";

/** Converts devnet records to the JSON shapes of Blockfrost's OpenAPI (v0), the ones its clients parse. */

export interface BlockfrostAmount {
  unit: string;
  quantity: string;
}

export function amounts(assets: Assets): BlockfrostAmount[] {
  const entries = Object.entries(assets).filter(([, q]) => q !== 0n);
  entries.sort(([a], [b]) => (a === "lovelace" ? -1 : b === "lovelace" ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([unit, quantity]) => ({ unit, quantity: quantity.toString() }));
}

/**
 * Hashes of inline datums and reference scripts, remembered: every read of the escrow address (or of a lock
 * transaction's 60 outputs) hashed every datum again through the WASM library, most of the cost of a page.
 */
const datumHashes = new RecentMap<string, string>(20_000);
const scriptHashes = new WeakMap<object, string>();

function inlineDatumHash(datum: string): string {
  let hash = datumHashes.get(datum);
  if (hash === undefined) datumHashes.set(datum, (hash = CML.hash_plutus_data(CML.PlutusData.from_cbor_hex(datum)).to_hex()));
  return hash;
}

function scriptRefHash(script: NonNullable<UTxO["scriptRef"]>): string {
  let hash = scriptHashes.get(script);
  if (hash === undefined) scriptHashes.set(script, (hash = validatorToScriptHash(script)));
  return hash;
}

function datumFields(utxo: UTxO | RecordedInput) {
  const inlineHash = utxo.datum ? inlineDatumHash(utxo.datum) : null;
  return {
    data_hash: utxo.datumHash ?? inlineHash,
    inline_datum: utxo.datum ?? null,
    reference_script_hash: utxo.scriptRef ? scriptRefHash(utxo.scriptRef) : ("scriptRefHash" in utxo ? utxo.scriptRefHash : undefined) ?? null,
  };
}

export function addressUtxo(utxo: UTxO, blockHash: string) {
  return {
    address: utxo.address,
    tx_hash: utxo.txHash,
    tx_index: utxo.outputIndex,
    output_index: utxo.outputIndex,
    amount: amounts(utxo.assets),
    block: blockHash,
    ...datumFields(utxo),
  };
}

export function txUtxos(tx: TxRecord, consumedBy: (txHash: string, index: number) => string | undefined) {
  const input = (utxo: RecordedInput, flags: { collateral: boolean; reference: boolean }) => ({
    address: utxo.address,
    amount: amounts(utxo.assets),
    tx_hash: utxo.txHash,
    output_index: utxo.outputIndex,
    ...datumFields(utxo),
    ...flags,
  });
  return {
    hash: tx.hash,
    inputs: [
      ...tx.inputs.map((u) => input(u, { collateral: false, reference: false })),
      ...tx.collateral.map((u) => input(u, { collateral: true, reference: false })),
      ...tx.referenceInputs.map((u) => input(u, { collateral: false, reference: true })),
    ],
    outputs: tx.outputs.map((u) => ({
      address: u.address,
      amount: amounts(u.assets),
      output_index: u.outputIndex,
      ...datumFields(u),
      collateral: false,
      consumed_by_tx: consumedBy(u.txHash, u.outputIndex) ?? null,
    })),
  };
}

export function txContent(tx: TxRecord & { block: NonNullable<TxRecord["block"]> }) {
  const output: Assets = {};
  for (const u of tx.outputs) for (const [unit, q] of Object.entries(u.assets)) output[unit] = (output[unit] ?? 0n) + q;
  return {
    hash: tx.hash,
    block: tx.block.hash,
    block_height: tx.block.height,
    block_time: Math.floor(tx.block.time / 1000),
    slot: tx.block.slot,
    index: tx.block.index,
    output_amount: amounts(output),
    fees: tx.fee.toString(),
    deposit: "0",
    size: tx.size,
    invalid_before: tx.invalidBefore === null ? null : String(tx.invalidBefore),
    invalid_hereafter: tx.invalidHereafter === null ? null : String(tx.invalidHereafter),
    utxo_count: tx.inputs.length + tx.outputs.length,
    withdrawal_count: tx.withdrawalCount,
    mir_cert_count: 0,
    delegation_count: 0,
    stake_cert_count: tx.certCount,
    pool_update_count: 0,
    pool_retire_count: 0,
    asset_mint_or_burn_count: tx.mintCount,
    redeemer_count: tx.redeemerCount,
    valid_contract: true,
    // The ledger takes no donations on the devnet (Conway's field, required in Blockfrost's answer).
    treasury_donation: "0",
  };
}

export function blockContent(block: BlockRecord, tipHeight: number, fees: bigint, output: bigint, size: number, next: string | null) {
  return {
    time: Math.floor(block.time / 1000),
    height: block.height,
    hash: block.hash,
    slot: block.slot,
    epoch: 0,
    epoch_slot: block.slot,
    slot_leader: "devnet",
    size,
    tx_count: block.txHashes.length,
    output: output.toString(),
    fees: fees.toString(),
    block_vrf: null,
    op_cert: null,
    op_cert_counter: null,
    previous_block: block.previous,
    next_block: next,
    confirmations: tipHeight - block.height,
  };
}

export function genesisContent(slotConfig: DevnetSlotConfig) {
  return {
    active_slots_coefficient: 1,
    update_quorum: 1,
    max_lovelace_supply: "45000000000000000",
    network_magic: 42,
    epoch_length: 432000,
    system_start: Math.floor(slotConfig.zeroTime / 1000),
    slots_per_kes_period: 129600,
    slot_length: slotConfig.slotLength / 1000,
    max_kes_evolutions: 62,
    security_param: 1,
  };
}

export function protocolParameters(pp: ProtocolParameters) {
  return {
    epoch: 0,
    min_fee_a: pp.minFeeA,
    min_fee_b: pp.minFeeB,
    max_block_size: 90112,
    max_tx_size: pp.maxTxSize,
    max_block_header_size: 1100,
    key_deposit: pp.keyDeposit.toString(),
    pool_deposit: pp.poolDeposit.toString(),
    e_max: 18,
    n_opt: 500,
    a0: 0.3,
    rho: 0.003,
    tau: 0.2,
    decentralisation_param: 0,
    extra_entropy: null,
    protocol_major_ver: 10,
    protocol_minor_ver: 0,
    min_utxo: pp.coinsPerUtxoByte.toString(),
    min_pool_cost: "170000000",
    nonce: "00".repeat(32),
    cost_models: pp.costModels,
    cost_models_raw: pp.costModels,
    price_mem: pp.priceMem,
    price_step: pp.priceStep,
    max_tx_ex_mem: pp.maxTxExMem.toString(),
    max_tx_ex_steps: pp.maxTxExSteps.toString(),
    max_block_ex_mem: "62000000",
    max_block_ex_steps: "20000000000",
    max_val_size: String(pp.maxValSize),
    collateral_percent: pp.collateralPercentage,
    max_collateral_inputs: pp.maxCollateralInputs,
    coins_per_utxo_size: pp.coinsPerUtxoByte.toString(),
    coins_per_utxo_word: pp.coinsPerUtxoByte.toString(),
    drep_deposit: pp.drepDeposit.toString(),
    gov_action_deposit: pp.govActionDeposit.toString(),
    min_fee_ref_script_cost_per_byte: pp.minFeeRefScriptCostPerByte,
    // Conway governance: the devnet has no governance, so mainnet's values at the Chang hard fork stand in.
    ...CONWAY_GOVERNANCE,
  };
}

const CONWAY_GOVERNANCE = {
  pvt_motion_no_confidence: 0.51,
  pvt_committee_normal: 0.51,
  pvt_committee_no_confidence: 0.51,
  pvt_hard_fork_initiation: 0.51,
  pvt_p_p_security_group: 0.51,
  pvtpp_security_group: 0.51,
  dvt_motion_no_confidence: 0.67,
  dvt_committee_normal: 0.67,
  dvt_committee_no_confidence: 0.6,
  dvt_update_to_constitution: 0.75,
  dvt_hard_fork_initiation: 0.6,
  dvt_p_p_network_group: 0.67,
  dvt_p_p_economic_group: 0.67,
  dvt_p_p_technical_group: 0.67,
  dvt_p_p_gov_group: 0.75,
  dvt_treasury_withdrawal: 0.67,
  committee_min_size: "7",
  committee_max_term_length: "146",
  gov_action_lifetime: "6",
  drep_activity: "20",
};

/**
 * A native script as Blockfrost (db-sync) gives it in `/scripts/{hash}/json`: cardano-cli's simple-script JSON
 * (`{"type":"sig","keyHash":…}`, `all`/`any`/`atLeast` with `scripts`, `after`/`before` with `slot`), the
 * shape Lucid's `scriptFromNative` reads.
 */
export type NativeScriptJson =
  | { type: "sig"; keyHash: string }
  | { type: "all" | "any"; scripts: NativeScriptJson[] }
  | { type: "atLeast"; required: number; scripts: NativeScriptJson[] }
  | { type: "after" | "before"; slot: number };

export function nativeScriptJson(cborHex: string): NativeScriptJson {
  return toJson(CML.NativeScript.from_cbor_hex(cborHex));
}

function toJson(script: CML.NativeScript): NativeScriptJson {
  const list = (l: CML.NativeScriptList) => Array.from({ length: l.len() }, (_, i) => toJson(l.get(i)));
  switch (script.kind()) {
    case CML.NativeScriptKind.ScriptPubkey:
      return { type: "sig", keyHash: script.as_script_pubkey()!.ed25519_key_hash().to_hex() };
    case CML.NativeScriptKind.ScriptAll:
      return { type: "all", scripts: list(script.as_script_all()!.native_scripts()) };
    case CML.NativeScriptKind.ScriptAny:
      return { type: "any", scripts: list(script.as_script_any()!.native_scripts()) };
    case CML.NativeScriptKind.ScriptNOfK: {
      const n = script.as_script_n_of_k()!;
      return { type: "atLeast", required: Number(n.n()), scripts: list(n.native_scripts()) };
    }
    case CML.NativeScriptKind.ScriptInvalidBefore:
      return { type: "after", slot: Number(script.as_script_invalid_before()!.before()) };
    default:
      return { type: "before", slot: Number(script.as_script_invalid_hereafter()!.after()) };
  }
}

export function scriptInfo(hash: string, type: string, script: string) {
  const kind = type === "Native" ? "timelock" : type === "PlutusV1" ? "plutusV1" : type === "PlutusV2" ? "plutusV2" : "plutusV3";
  return { script_hash: hash, type: kind, serialised_size: kind === "timelock" ? null : script.length / 2 };
}

export function errorBody(status: number, error: string, message: string) {
  return { status_code: status, error, message };
}
