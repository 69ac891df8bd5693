import { blake2b } from "@noble/hashes/blake2b";
import { CML, Emulator, getAddressDetails, validatorToScriptHash } from "@lucid-evolution/lucid";
import type { ProtocolParameters, Script, UTxO } from "@lucid-evolution/lucid";
import { checkTransaction, evaluateOnThisThread, TxRejected, type Evaluate } from "./tx-checks.js";
import { slotAt, timeOfSlot, type DevnetSlotConfig } from "./slot-config.js";

/**
 * The devnet chain: Lucid's Emulator holds the UTxO set, mempool and datum table and applies its ledger rules;
 * around it this class adds what a Blockfrost-shaped API needs and the Emulator lacks: wall-clock slots, blocks
 * with hashes and heights, a record of every transaction (where it landed, what it spent), the scripts and inline
 * datums seen, and the node's checks the Emulator skips (tx-checks.ts). Every method but `submit` is synchronous,
 * so atomic on Node's single thread; `submit` awaits its script evaluation before it changes anything, so callers
 * serialize writers (SerialQueue; persistence is async too) while reads go on.
 */

export interface BlockRecord {
  height: number;
  hash: string;
  slot: number;
  /** POSIX ms of the block's slot. */
  time: number;
  previous: string | null;
  txHashes: string[];
}

/** A spent or read UTxO as a tx record keeps it: a reference script is kept by hash only (it can be large and
 * every spend of an escrow reads the same one). */
export type RecordedInput = Omit<UTxO, "scriptRef"> & { scriptRef?: undefined; scriptRefHash?: string };

export interface TxRecord {
  hash: string;
  cbor: string;
  submittedSlot: number;
  block?: { height: number; hash: string; slot: number; time: number; index: number };
  inputs: RecordedInput[];
  referenceInputs: RecordedInput[];
  collateral: RecordedInput[];
  outputs: UTxO[];
  fee: bigint;
  size: number;
  invalidBefore: number | null;
  invalidHereafter: number | null;
  redeemerCount: number;
  mintCount: number;
  withdrawalCount: number;
  certCount: number;
}

export interface StoredScript {
  type: Script["type"];
  script: string;
}

type EmulatorEntry = { utxo: UTxO; spent: boolean };

/** Everything needed to bring the chain back after a restart (see persistence.ts). */
export interface LedgerSnapshot {
  version: 1;
  slotConfig: DevnetSlotConfig;
  protocolParameters: ProtocolParameters;
  tip: BlockRecord;
  blocks: BlockRecord[];
  txs: TxRecord[];
  spentBy: Array<[string, string]>;
  scripts: Record<string, StoredScript>;
  emulator: {
    ledger: Record<string, EmulatorEntry>;
    mempool: Record<string, EmulatorEntry>;
    datumTable: Record<string, string>;
    chain: Record<string, unknown>;
  };
}

export interface GenesisParams {
  now: number;
  protocolParameters: ProtocolParameters;
  /** Initial UTxOs (the faucet's funds). */
  accounts: Array<{ address: string; assets: Record<string, bigint> }>;
}

export class DevnetLedger {
  readonly slotConfig: DevnetSlotConfig;
  readonly protocolParameters: ProtocolParameters;
  private readonly emulator: Emulator;
  private tip: BlockRecord;
  /** Only blocks that carry transactions are kept: empty ones are recomputable from the tip and not worth disk. */
  private readonly blocks = new Map<number, BlockRecord>();
  private readonly txs = new Map<string, TxRecord>();
  private readonly pending: string[] = [];
  private readonly spentBy = new Map<string, string>();
  private readonly scripts = new Map<string, StoredScript>();
  private readonly clock: () => number;
  /**
   * The confirmed entries of each address in out-ref order, rebuilt (once) after a block changed the UTxO set. Every
   * page of every address read walked and sorted the whole UTxO set: readers of the escrow address, each asking
   * for ten pages at once, made that most of the server's work. Entries are the Emulator's own objects, so a spend
   * in the mempool (it flips `spent` in place) shows at once.
   */
  private byAddress: Map<string, EmulatorEntry[]> | undefined;
  /** Where scripts run on submission (the server's evaluation thread; by default this thread). */
  evaluate: Evaluate = evaluateOnThisThread;

  private constructor(slotConfig: DevnetSlotConfig, pp: ProtocolParameters, emulator: Emulator, tip: BlockRecord, clock: () => number) {
    this.slotConfig = slotConfig;
    this.protocolParameters = pp;
    this.emulator = emulator;
    this.tip = tip;
    this.clock = clock;
  }

  static genesis(params: GenesisParams, clock: () => number = Date.now): DevnetLedger {
    // Whole seconds: /genesis reports system_start in seconds and clients rebuild the slot config from it.
    const zeroTime = Math.floor(params.now / 1000) * 1000;
    const slotConfig = { zeroTime, zeroSlot: 0, slotLength: 1000 };
    // Only address and assets are read by the constructor; the key fields of EmulatorAccount are for its own wallets.
    const emulator = new Emulator(params.accounts.map((a) => ({ address: a.address, assets: a.assets, seedPhrase: "", privateKey: "" })), params.protocolParameters);
    const tip: BlockRecord = { height: 0, hash: blockHash(null, 0, 0, []), slot: 0, time: zeroTime, previous: null, txHashes: [] };
    const ledger = new DevnetLedger(slotConfig, params.protocolParameters, emulator, tip, clock);
    ledger.syncEmulatorClock();
    return ledger;
  }

  static restore(snapshot: LedgerSnapshot, clock: () => number = Date.now): DevnetLedger {
    const emulator = new Emulator([], snapshot.protocolParameters);
    emulator.ledger = snapshot.emulator.ledger;
    emulator.mempool = snapshot.emulator.mempool;
    emulator.datumTable = snapshot.emulator.datumTable;
    emulator.chain = snapshot.emulator.chain as Emulator["chain"];
    emulator.blockHeight = snapshot.tip.height;
    const ledger = new DevnetLedger(snapshot.slotConfig, snapshot.protocolParameters, emulator, snapshot.tip, clock);
    for (const block of snapshot.blocks) ledger.blocks.set(block.height, block);
    for (const tx of snapshot.txs) {
      ledger.txs.set(tx.hash, tx);
      if (!tx.block) ledger.pending.push(tx.hash);
    }
    for (const [key, hash] of snapshot.spentBy) ledger.spentBy.set(key, hash);
    for (const [hash, script] of Object.entries(snapshot.scripts)) ledger.scripts.set(hash, script);
    ledger.syncEmulatorClock();
    return ledger;
  }

  snapshot(): LedgerSnapshot {
    return {
      version: 1,
      slotConfig: this.slotConfig,
      protocolParameters: this.protocolParameters,
      tip: this.tip,
      blocks: [...this.blocks.values()],
      txs: [...this.txs.values()],
      spentBy: [...this.spentBy.entries()],
      scripts: Object.fromEntries(this.scripts),
      emulator: {
        ledger: this.emulator.ledger as Record<string, EmulatorEntry>,
        mempool: this.emulator.mempool as Record<string, EmulatorEntry>,
        datumTable: this.emulator.datumTable as Record<string, string>,
        chain: this.emulator.chain as Record<string, unknown>,
      },
    };
  }

  currentSlot(): number {
    return Math.max(slotAt(this.slotConfig, this.clock()), this.tip.slot);
  }

  private syncEmulatorClock(): void {
    const slot = this.currentSlot();
    this.emulator.slot = slot;
    this.emulator.time = timeOfSlot(this.slotConfig, slot);
  }

  /**
   * Validates and applies a transaction to the mempool; throws TxRejected and changes nothing on refusal. The
   * scripts run while this awaits, so callers must keep other writers (submissions, blocks) out until it settles
   * (the server's SerialQueue); reads go on meanwhile and see the ledger as it was.
   */
  async submit(cbor: Uint8Array): Promise<string> {
    this.syncEmulatorClock();
    const slot = this.emulator.slot;
    let checked;
    try {
      checked = await checkTransaction(cbor, {
        slot,
        slotConfig: this.slotConfig,
        protocolParameters: this.protocolParameters,
        lookup: (txHash, index) => this.lookup(txHash, index),
        stakeRegistered: (rewardAddress) => this.stakeRegistered(rewardAddress),
        evaluate: this.evaluate,
      });
    } catch (error) {
      if (error instanceof TxRejected) throw error;
      // A transaction the checks cannot even read (odd field values) is the client's fault, not a server error.
      throw new TxRejected("ledger_rule", `the transaction could not be validated: ${error instanceof Error ? error.message : String(error)}`);
    }
    const hex = Buffer.from(cbor).toString("hex");
    // The transaction was judged at `slot`; it enters the mempool as of that slot (the checks took their time).
    this.emulator.slot = slot;
    try {
      // Synchronous in Lucid 0.4.34 despite the Promise type: it throws before touching state on a broken rule.
      void this.emulator.submitTx(hex);
    } catch (error) {
      throw new TxRejected(/missing vkey/i.test(String(error)) ? "missing_signature" : "ledger_rule", String(error instanceof Error ? error.message : error));
    }
    const body = checked.tx.body();
    const outputs: UTxO[] = [];
    for (let i = 0; i < body.outputs().len(); i++) {
      const entry = (this.emulator.mempool as Record<string, EmulatorEntry>)[checked.hash + i];
      if (entry) outputs.push(entry.utxo);
    }
    for (const utxo of checked.inputs) this.spentBy.set(`${utxo.txHash}#${utxo.outputIndex}`, checked.hash);
    this.indexScriptsAndDatums(checked.tx, outputs);
    const redeemers = checked.tx.witness_set().redeemers()?.to_flat_format();
    const record: TxRecord = {
      hash: checked.hash,
      cbor: hex,
      submittedSlot: slot,
      inputs: checked.inputs.map(recordInput),
      referenceInputs: checked.referenceInputs.map(recordInput),
      collateral: checked.collateral.map(recordInput),
      outputs,
      fee: body.fee(),
      size: cbor.length,
      invalidBefore: body.validity_interval_start() === undefined ? null : Number(body.validity_interval_start()),
      invalidHereafter: body.ttl() === undefined ? null : Number(body.ttl()),
      redeemerCount: redeemers?.len() ?? 0,
      mintCount: body.mint()?.policy_count() ?? 0,
      withdrawalCount: body.withdrawals()?.len() ?? 0,
      certCount: body.certs()?.len() ?? 0,
    };
    this.txs.set(checked.hash, record);
    this.pending.push(checked.hash);
    return checked.hash;
  }

  /** Seals the mempool into a new block (an empty block when nothing is pending). */
  produceBlock(): BlockRecord {
    const slot = this.currentSlot();
    const height = this.tip.height + 1;
    const txHashes = this.pending.splice(0);
    const block: BlockRecord = {
      height,
      hash: blockHash(this.tip.hash, height, slot, txHashes),
      slot,
      time: timeOfSlot(this.slotConfig, slot),
      previous: this.tip.hash,
      txHashes,
    };
    // Same bookkeeping as Emulator.awaitBlock, without its jump of 20 slots: the devnet's slots follow the wall clock.
    const ledger = this.emulator.ledger as Record<string, EmulatorEntry>;
    let changed = false;
    for (const [key, entry] of Object.entries(this.emulator.mempool as Record<string, EmulatorEntry>)) {
      ledger[key] = entry;
      changed = true;
    }
    for (const [key, entry] of Object.entries(ledger)) {
      if (!entry.spent) continue;
      delete ledger[key];
      changed = true;
    }
    if (changed) this.byAddress = undefined;
    this.emulator.mempool = {};
    this.emulator.blockHeight = height;
    txHashes.forEach((hash, index) => {
      const tx = this.txs.get(hash);
      if (tx) tx.block = { height, hash: block.hash, slot, time: block.time, index };
    });
    if (txHashes.length > 0) this.blocks.set(height, block);
    this.tip = block;
    this.syncEmulatorClock();
    return block;
  }

  latestBlock(): BlockRecord {
    return this.tip;
  }

  block(heightOrHash: string): BlockRecord | undefined {
    if (/^\d+$/.test(heightOrHash)) {
      const height = Number(heightOrHash);
      return height === this.tip.height ? this.tip : this.blocks.get(height);
    }
    if (heightOrHash === this.tip.hash) return this.tip;
    return [...this.blocks.values()].find((b) => b.hash === heightOrHash);
  }

  pendingCount(): number {
    return this.pending.length;
  }

  private lookup(txHash: string, index: number): { utxo: UTxO } | { spentBy: string | undefined } | undefined {
    const key = txHash + index;
    const entry = (this.emulator.ledger as Record<string, EmulatorEntry>)[key] ?? (this.emulator.mempool as Record<string, EmulatorEntry>)[key];
    const spentBy = this.spentBy.get(`${txHash}#${index}`);
    if (entry && !entry.spent) return { utxo: entry.utxo };
    if (entry || spentBy) return { spentBy };
    return undefined;
  }

  /** Whether a stake credential is registered (the Emulator keeps registrations per reward address). */
  stakeRegistered(rewardAddress: string): boolean {
    const entry = (this.emulator.chain as Record<string, { registeredStake?: boolean } | undefined>)[rewardAddress];
    return entry?.registeredStake === true;
  }

  private indexScriptsAndDatums(tx: CML.Transaction, outputs: UTxO[]): void {
    const datumTable = this.emulator.datumTable as Record<string, string>;
    for (const utxo of outputs) {
      if (utxo.datum) datumTable[CML.hash_plutus_data(CML.PlutusData.from_cbor_hex(utxo.datum)).to_hex()] = utxo.datum;
      if (utxo.scriptRef) this.scripts.set(validatorToScriptHash(utxo.scriptRef), { type: utxo.scriptRef.type, script: utxo.scriptRef.script });
    }
    const witnesses = tx.witness_set();
    const add = (type: Script["type"], list: { len(): number; get(i: number): { hash(): CML.ScriptHash; to_cbor_hex(): string } } | undefined) => {
      for (let i = 0; i < (list?.len() ?? 0); i++) {
        const script = list!.get(i);
        this.scripts.set(script.hash().to_hex(), { type, script: script.to_cbor_hex() });
      }
    };
    add("Native", witnesses.native_scripts());
    add("PlutusV1", witnesses.plutus_v1_scripts());
    add("PlutusV2", witnesses.plutus_v2_scripts());
    add("PlutusV3", witnesses.plutus_v3_scripts());
  }

  // ---- read-only queries (confirmed state: what Blockfrost shows) ----

  /**
   * Confirmed UTxOs at an address (bech32 address, or `addr_vkh…` payment credential as Lucid sends). UTxOs already
   * spent by a pending transaction are left out so concurrent clients do not pick inputs that are about to vanish.
   */
  utxosAt(addressOrCredential: string): UTxO[] {
    if (!addressOrCredential.startsWith("addr_vkh")) {
      const entries = this.addressIndex().get(addressOrCredential) ?? [];
      return entries.filter((e) => !e.spent).map((e) => e.utxo);
    }
    const credentialHash = credentialFromBech32(addressOrCredential);
    const result: UTxO[] = [];
    for (const { utxo, spent } of Object.values(this.emulator.ledger as Record<string, EmulatorEntry>)) {
      if (spent) continue;
      if (credentialHash !== undefined) {
        if (getAddressDetails(utxo.address).paymentCredential?.hash === credentialHash) result.push(utxo);
      } else if (utxo.address === addressOrCredential) result.push(utxo);
    }
    return result.sort(compareOutRefs);
  }

  private addressIndex(): Map<string, EmulatorEntry[]> {
    if (this.byAddress) return this.byAddress;
    const index = new Map<string, EmulatorEntry[]>();
    for (const entry of Object.values(this.emulator.ledger as Record<string, EmulatorEntry>)) {
      const list = index.get(entry.utxo.address);
      if (list) list.push(entry);
      else index.set(entry.utxo.address, [entry]);
    }
    for (const list of index.values()) list.sort((a, b) => compareOutRefs(a.utxo, b.utxo));
    this.byAddress = index;
    return index;
  }

  /** Every unspent UTxO, confirmed or pending (the faucet chains its own transactions within a block). */
  spendableUtxosAt(address: string): UTxO[] {
    const all = [...Object.values(this.emulator.ledger as Record<string, EmulatorEntry>), ...Object.values(this.emulator.mempool as Record<string, EmulatorEntry>)];
    return all.filter((e) => !e.spent && e.utxo.address === address).map((e) => e.utxo);
  }

  assetHolders(unit: string): Array<{ address: string; quantity: bigint }> {
    const totals = new Map<string, bigint>();
    for (const { utxo, spent } of Object.values(this.emulator.ledger as Record<string, EmulatorEntry>)) {
      if (spent) continue;
      const q = utxo.assets[unit];
      if (q) totals.set(utxo.address, (totals.get(utxo.address) ?? 0n) + q);
    }
    return [...totals.entries()].map(([address, quantity]) => ({ address, quantity }));
  }

  /** An unspent output, confirmed or pending. */
  unspent(txHash: string, index: number): UTxO | undefined {
    const found = this.lookup(txHash, index);
    return found && "utxo" in found ? found.utxo : undefined;
  }

  tx(hash: string): TxRecord | undefined {
    return this.txs.get(hash);
  }

  consumedBy(txHash: string, index: number): string | undefined {
    return this.spentBy.get(`${txHash}#${index}`);
  }

  datum(hash: string): string | undefined {
    return (this.emulator.datumTable as Record<string, string>)[hash];
  }

  script(hash: string): StoredScript | undefined {
    return this.scripts.get(hash);
  }

  /** Confirmed transactions that spend from or pay to the address, oldest first. */
  addressTxs(address: string): TxRecord[] {
    return [...this.txs.values()]
      .filter((tx) => tx.block && [...tx.inputs, ...tx.outputs].some((u) => u.address === address))
      .sort((a, b) => a.block!.height - b.block!.height || a.block!.index - b.block!.index);
  }

  /** Whether the address ever held anything (Blockfrost answers 404 for addresses it never saw). */
  knowsAddress(address: string): boolean {
    if (this.utxosAt(address).length > 0) return true;
    return [...this.txs.values()].some((tx) => tx.outputs.some((u) => u.address === address));
  }
}

function recordInput(utxo: UTxO): RecordedInput {
  const { scriptRef, ...rest } = utxo;
  return scriptRef ? { ...rest, scriptRefHash: validatorToScriptHash(scriptRef) } : rest;
}

function compareOutRefs(a: UTxO, b: UTxO): number {
  return a.txHash < b.txHash ? -1 : a.txHash > b.txHash ? 1 : a.outputIndex - b.outputIndex;
}

function credentialFromBech32(bech32: string): string | undefined {
  try {
    return CML.Ed25519KeyHash.from_bech32(bech32).to_hex();
  } catch {
    return undefined;
  }
}

function blockHash(previous: string | null, height: number, slot: number, txHashes: string[]): string {
  return Buffer.from(blake2b(`${previous ?? "genesis"}|${height}|${slot}|${txHashes.join(",")}`, { dkLen: 32 })).toString("hex");
}
