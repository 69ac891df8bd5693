import type { Assets, LucidEvolution, Script, UTxO, WalletApi } from "@lucid-evolution/lucid";

export type { LucidEvolution, Script, UTxO };
import type { ChainConfig, ChainNetwork } from "./config.js";

/** Slot ↔ POSIX ms of the network (validity ranges and on-chain times are computed from it). */
export interface SlotConfig {
  zeroTime: number;
  zeroSlot: number;
  slotLength: number;
}

export interface ChainTip {
  height: number;
  hash: string;
  slot: number;
  /** POSIX ms of the tip block. */
  time: number;
}

export type TxStatus =
  | { hash: string; state: "unknown"; confirmations: 0 }
  | { hash: string; state: "confirmed"; blockHeight: number; blockHash: string; blockTime: number; slot: number; fee: bigint; confirmations: number };

export interface AwaitOptions {
  /** Blocks including the one holding the tx (default 1). */
  confirmations?: number;
  timeoutMs?: number;
  pollMs?: number;
}

/** A payment received by an address from a transaction it did not itself fund (no input of the address). */
export interface Payout {
  txHash: string;
  outputIndex: number;
  assets: Assets;
  blockHeight: number;
  blockTime: number;
}

/** Who signs: a key or seed held by this process, a read-only address, or a CIP-30 wallet in a browser. */
export type ChainWallet =
  | { privateKey: string }
  | { seed: string }
  | { address: string; utxos?: UTxO[] }
  | { api: WalletApi };

/**
 * How every part of ntx-market reaches the chain — the local devnet and the real networks alike. Transaction
 * building goes through Lucid (`lucid()`); everything else is a plain query. Failures of the chain become
 * `NtxError`s: `CHAIN_UNREACHABLE` / `CHAIN_UNAVAILABLE` (retryable), `CHAIN_TX_REJECTED` (not retryable).
 */
export interface Chain {
  readonly network: ChainNetwork;
  readonly url: string;
  /** What built this chain: another thread (a tx-build worker) makes its own chain from it. */
  readonly config: ChainConfig;
  /** A Lucid instance on this chain (Lucid's Blockfrost provider), with the wallet selected when given. */
  lucid(wallet?: ChainWallet): Promise<LucidEvolution>;
  /** Submits a signed transaction (CBOR hex); returns its hash. */
  submit(txCbor: string): Promise<string>;
  utxosAt(address: string): Promise<UTxO[]>;
  /** Unspent outputs among `outRefs` (the rest are skipped), read with at most a few requests in flight. */
  utxosByOutRef(outRefs: Array<{ txHash: string; outputIndex: number }>): Promise<UTxO[]>;
  /** What an address holds in total, in one request however many UTxOs it has (zero when never seen). */
  addressTotal(address: string): Promise<Assets>;
  utxosAtWithUnit(address: string, unit: string): Promise<UTxO[]>;
  /** Every UTxO holding the asset, at any address. */
  utxosWithUnit(unit: string): Promise<UTxO[]>;
  /** The datum (CBOR hex) with this hash, or undefined when the chain never saw it. */
  datum(hash: string): Promise<string | undefined>;
  tip(): Promise<ChainTip>;
  slotConfig(): Promise<SlotConfig>;
  txStatus(hash: string): Promise<TxStatus>;
  awaitConfirmation(hash: string, options?: AwaitOptions): Promise<Extract<TxStatus, { state: "confirmed" }>>;
  /** Payments received by the address, oldest first, optionally only from blocks at or after `sinceTime` (POSIX ms). */
  payoutsTo(address: string, options?: { sinceTime?: number; unit?: string }): Promise<Payout[]>;
}
