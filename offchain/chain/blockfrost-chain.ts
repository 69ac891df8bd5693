import { BlockFrostAPI } from "@blockfrost/blockfrost-js";
import { applyDoubleCborEncoding, Blockfrost, Lucid, SLOT_CONFIG_NETWORK, scriptFromNative } from "@lucid-evolution/lucid";
import type { Address, Assets, Credential, LucidEvolution, Network, ProtocolParameters, Provider, Script, UTxO } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import { chainError, isNotFound } from "./chain-errors.js";
import type { ChainConfig, ChainNetwork } from "./config.js";
import type { AwaitOptions, Chain, ChainTip, ChainWallet, Payout, SlotConfig, TxStatus } from "./types.js";

/** Requests in flight for one out-ref list: a wallet's 500 UTxOs must not become 500 parallel chain calls. */
const OUT_REF_CONCURRENCY = 8;
/** Blockfrost's largest page, and how many pages are asked for at once after the first. */
const PAGE_ITEMS = 100;
const PAGES_AT_ONCE = 10;

/**
 * Every page of a paged list: the first alone, then (only when it was full) the next ones ten at a time.
 * blockfrost-js's `…All` methods ask for ten pages at once from the start, so every read of a wallet of a few UTxOs
 * cost ten requests (nine of them empty pages): ten times the chain server's work and the Blockfrost quota.
 */
async function allPages<T>(page: (pagination: { page: number; count: number }) => Promise<T[]>): Promise<T[]> {
  const rows = await page({ page: 1, count: PAGE_ITEMS });
  if (rows.length < PAGE_ITEMS) return rows;
  for (let next = 2; ; next += PAGES_AT_ONCE) {
    const pages = await Promise.all(Array.from({ length: PAGES_AT_ONCE }, (_, i) => page({ page: next + i, count: PAGE_ITEMS })));
    for (const p of pages) {
      rows.push(...p);
      if (p.length < PAGE_ITEMS) return rows;
    }
  }
}

const LUCID_NETWORK: Record<ChainNetwork, Network> = { devnet: "Custom", preview: "Preview", preprod: "Preprod", mainnet: "Mainnet" };

type BlockfrostUtxo = {
  address: string;
  tx_hash: string;
  output_index: number;
  amount: Array<{ unit: string; quantity: string }>;
  data_hash?: string | null;
  inline_datum?: string | null;
  reference_script_hash?: string | null;
};

/** The chain through a Blockfrost-shaped API: Blockfrost itself for real networks, the devnet chain server locally. */
export function createChain(config: ChainConfig): Chain {
  return new BlockfrostChain(config);
}

class BlockfrostChain implements Chain {
  readonly network: ChainNetwork;
  readonly url: string;
  readonly config: ChainConfig;
  private readonly api: BlockFrostAPI;
  private readonly projectId: string | undefined;
  private slotConfigCache: Promise<SlotConfig> | undefined;
  private parametersCache: Promise<ProtocolParameters> | undefined;
  private readonly scriptCache = new Map<string, Promise<Script>>();

  constructor(config: ChainConfig) {
    this.network = config.network;
    this.config = config;
    this.url = config.blockfrostUrl;
    this.projectId = config.projectId;
    const devnet = config.network === "devnet";
    this.api = new BlockFrostAPI({
      customBackend: config.blockfrostUrl,
      ...(config.projectId ? { projectId: config.projectId } : {}),
      // The devnet has no rate limit to respect and fails fast when down; real Blockfrost gets the library defaults.
      rateLimiter: !devnet,
      requestTimeout: config.requestTimeoutMs,
      ...(devnet ? { retrySettings: { limit: 0 } as never } : {}),
    });
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw chainError(error, what, this.url);
    }
  }

  /** Like `call`, but a 404 (Blockfrost's "never seen") becomes `fallback`. */
  private async lookup<T, F>(what: string, fn: () => Promise<T>, fallback: F): Promise<T | F> {
    try {
      return await fn();
    } catch (error) {
      if (isNotFound(error)) return fallback;
      throw chainError(error, what, this.url);
    }
  }

  async slotConfig(): Promise<SlotConfig> {
    if (this.network !== "devnet") return { ...SLOT_CONFIG_NETWORK[LUCID_NETWORK[this.network]] };
    this.slotConfigCache ??= this.call("reading the devnet genesis", async () => {
      const genesis = await this.api.genesis();
      return { zeroTime: genesis.system_start * 1000, zeroSlot: 0, slotLength: genesis.slot_length * 1000 };
    });
    try {
      return await this.slotConfigCache;
    } catch (error) {
      this.slotConfigCache = undefined;
      throw error;
    }
  }

  async lucid(wallet?: ChainWallet): Promise<LucidEvolution> {
    if (this.network === "devnet") {
      // Lucid reads the "Custom" network's slot config from this module-level table (it fills it only for its
      // own Emulator): set it from the devnet's genesis so validity ranges map to the server's slots.
      SLOT_CONFIG_NETWORK.Custom = await this.slotConfig();
    }
    const provider = new ChainProvider(new Blockfrost(this.url, this.projectId), this);
    this.parametersCache ??= this.call("reading protocol parameters", () => provider.getProtocolParameters());
    let presetProtocolParameters: ProtocolParameters;
    try {
      presetProtocolParameters = await this.parametersCache;
    } catch (error) {
      this.parametersCache = undefined;
      throw error;
    }
    const lucid = await this.call("starting Lucid", () => Lucid(provider, LUCID_NETWORK[this.network], { presetProtocolParameters }));
    if (wallet) {
      if ("privateKey" in wallet) lucid.selectWallet.fromPrivateKey(wallet.privateKey);
      else if ("seed" in wallet) lucid.selectWallet.fromSeed(wallet.seed);
      else if ("api" in wallet) lucid.selectWallet.fromAPI(wallet.api);
      else lucid.selectWallet.fromAddress(wallet.address, wallet.utxos ?? (await this.utxosAt(wallet.address)));
    }
    return lucid;
  }

  async submit(txCbor: string): Promise<string> {
    try {
      return await this.api.txSubmit(txCbor);
    } catch (error) {
      if ((error as { status_code?: number }).status_code === 400) {
        throw new NtxError("CHAIN_TX_REJECTED", `the chain refused the transaction: ${(error as Error).message}`, { cause: error, details: { url: this.url } });
      }
      throw chainError(error, "submitting a transaction", this.url);
    }
  }

  async utxosAt(address: string): Promise<UTxO[]> {
    const rows = await this.lookup(`reading UTxOs at ${address}`, () => allPages((p) => this.api.addressesUtxos(address, p)), []);
    return this.toUtxos(rows as BlockfrostUtxo[]);
  }

  async utxosByOutRef(outRefs: Array<{ txHash: string; outputIndex: number }>): Promise<UTxO[]> {
    const wanted = new Map<string, Set<number>>();
    for (const ref of outRefs) {
      const indices = wanted.get(ref.txHash) ?? new Set<number>();
      indices.add(ref.outputIndex);
      wanted.set(ref.txHash, indices);
    }
    const hashes = [...wanted.keys()];
    const found: UTxO[][] = [];
    let next = 0;
    const worker = async () => {
      while (next < hashes.length) {
        const txHash = hashes[next++]!;
        // A tx the chain never saw (a wallet's pending one) holds nothing spendable yet: skipped, like a spent output.
        const tx = await this.lookup(`reading transaction ${txHash}`, () => this.api.txsUtxos(txHash), undefined);
        if (!tx) continue;
        const indices = wanted.get(txHash)!;
        const rows = tx.outputs.filter((o) => indices.has(o.output_index) && !o.consumed_by_tx).map((o) => ({ ...o, tx_hash: txHash }));
        found.push(await this.toUtxos(rows as BlockfrostUtxo[]));
      }
    };
    await Promise.all(Array.from({ length: Math.min(OUT_REF_CONCURRENCY, hashes.length) }, worker));
    return found.flat();
  }

  async addressTotal(address: string): Promise<Assets> {
    const content = await this.lookup(`reading the balance of ${address}`, () => this.api.addresses(address), undefined);
    return Object.fromEntries((content?.amount ?? []).map((a) => [a.unit, BigInt(a.quantity)]));
  }

  async utxosAtWithUnit(address: string, unit: string): Promise<UTxO[]> {
    const rows = await this.lookup(`reading UTxOs with ${unit} at ${address}`, () => allPages((p) => this.api.addressesUtxosAsset(address, unit, p)), []);
    return this.toUtxos(rows as BlockfrostUtxo[]);
  }

  async utxosWithUnit(unit: string): Promise<UTxO[]> {
    const holders: string[] = [];
    for (let page = 1; ; page++) {
      const rows = await this.lookup(`reading holders of ${unit}`, () => this.api.assetsAddresses(unit, { page, count: 100 }), []);
      holders.push(...rows.map((r) => r.address));
      if (rows.length < 100) break;
    }
    const perAddress = await Promise.all(holders.map((address) => this.utxosAtWithUnit(address, unit)));
    return perAddress.flat();
  }

  async datum(hash: string): Promise<string | undefined> {
    const result = await this.lookup(`reading datum ${hash}`, () => this.api.scriptsDatumCbor(hash), undefined);
    return result?.cbor;
  }

  async tip(): Promise<ChainTip> {
    const block = await this.call("reading the chain tip", () => this.api.blocksLatest());
    return { height: block.height ?? 0, hash: block.hash, slot: block.slot ?? 0, time: block.time * 1000 };
  }

  async txStatus(hash: string): Promise<TxStatus> {
    const tx = await this.lookup(`reading transaction ${hash}`, () => this.api.txs(hash), undefined);
    if (!tx) return { hash, state: "unknown", confirmations: 0 };
    const tip = await this.tip();
    return {
      hash,
      state: "confirmed",
      blockHeight: tx.block_height,
      blockHash: tx.block,
      blockTime: tx.block_time * 1000,
      slot: tx.slot,
      fee: BigInt(tx.fees),
      confirmations: Math.max(1, tip.height - tx.block_height + 1),
    };
  }

  async awaitConfirmation(hash: string, options: AwaitOptions = {}): Promise<Extract<TxStatus, { state: "confirmed" }>> {
    const wanted = options.confirmations ?? 1;
    const timeoutMs = options.timeoutMs ?? (this.network === "devnet" ? 60_000 : 600_000);
    // The devnet seals a block a second: polled every 100 ms, each transaction cost it and its client about ten
    // "not found" answers (a few per cent of the chain server's CPU under load) for no earlier answer that matters.
    const pollMs = options.pollMs ?? (this.network === "devnet" ? 250 : 5_000);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.txStatus(hash);
      if (status.state === "confirmed" && status.confirmations >= wanted) return status;
      if (Date.now() >= deadline) {
        throw new NtxError("CHAIN_CONFIRMATION_TIMEOUT", `transaction ${hash} has ${status.confirmations} of ${wanted} confirmations after ${timeoutMs} ms; check that blocks are being produced (devnet block time) and that the tx was not dropped`, { retryable: true, details: { hash, url: this.url } });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  async payoutsTo(address: string, options: { sinceTime?: number; unit?: string } = {}): Promise<Payout[]> {
    const txs = await this.lookup(`reading the history of ${address}`, () => this.api.addressesTransactionsAll(address), []);
    const payouts: Payout[] = [];
    for (const t of txs) {
      if (options.sinceTime !== undefined && t.block_time * 1000 < options.sinceTime) continue;
      const utxos = await this.call(`reading transaction ${t.tx_hash}`, () => this.api.txsUtxos(t.tx_hash));
      // Net per unit: what the address received minus what it put in (it may pay the fee of its own claim).
      const net: Assets = {};
      for (const o of utxos.outputs) if (o.address === address) for (const a of o.amount) net[a.unit] = (net[a.unit] ?? 0n) + BigInt(a.quantity);
      for (const i of utxos.inputs) if (i.address === address && !i.collateral && !i.reference) for (const a of i.amount) net[a.unit] = (net[a.unit] ?? 0n) - BigInt(a.quantity);
      const received = Object.fromEntries(Object.entries(net).filter(([unit, q]) => q > 0n && (options.unit === undefined || unit === options.unit)));
      if (Object.keys(received).length === 0) continue;
      payouts.push({ txHash: t.tx_hash, outputIndex: utxos.outputs.find((o) => o.address === address)?.output_index ?? 0, assets: received, blockHeight: t.block_height, blockTime: t.block_time * 1000 });
    }
    return payouts;
  }

  /** Blockfrost rows to Lucid UTxOs, with reference scripts fetched (once per hash). */
  async toUtxos(rows: BlockfrostUtxo[]): Promise<UTxO[]> {
    return Promise.all(
      rows.map(async (r) => ({
        txHash: r.tx_hash,
        outputIndex: r.output_index,
        address: r.address,
        assets: Object.fromEntries(r.amount.map((a) => [a.unit, BigInt(a.quantity)])),
        datumHash: (!r.inline_datum && r.data_hash) || undefined,
        datum: r.inline_datum || undefined,
        scriptRef: r.reference_script_hash ? await this.script(r.reference_script_hash) : undefined,
      })),
    );
  }

  private script(hash: string): Promise<Script> {
    let cached = this.scriptCache.get(hash);
    if (!cached) {
      cached = this.call(`reading script ${hash}`, async (): Promise<Script> => {
        const { type } = await this.api.scriptsByHash(hash);
        if (type === "timelock") {
          const { json } = await this.api.scriptsJson(hash);
          return scriptFromNative(json as Parameters<typeof scriptFromNative>[0]);
        }
        const { cbor } = await this.api.scriptsCbor(hash);
        const kind = type === "plutusV1" ? "PlutusV1" : type === "plutusV2" ? "PlutusV2" : "PlutusV3";
        return { type: kind, script: applyDoubleCborEncoding(cbor ?? "") };
      });
      cached.catch(() => this.scriptCache.delete(hash));
      this.scriptCache.set(hash, cached);
    }
    return cached;
  }
}

/**
 * Lucid's Blockfrost provider, with three changes: awaitTx polls through the chain interface (Lucid's waits 3 s
 * between polls plus 1 s after); on the devnet UTxO reads skip the provider's client-side rate-limit pauses
 * (500 ms per 10 UTxOs, meant for Blockfrost's quotas); out-refs are read with bounded concurrency (Lucid's fires
 * one request per tx hash at once, and reads a failing chain as "no UTxOs"). Everything else — protocol
 * parameters, datums, submission, remote evaluation — is Lucid's own code against the same HTTP API.
 */
class ChainProvider implements Provider {
  constructor(
    private readonly blockfrost: Blockfrost,
    private readonly chain: BlockfrostChain,
  ) {}

  getProtocolParameters() {
    return this.blockfrost.getProtocolParameters();
  }
  async getUtxos(addressOrCredential: Address | Credential) {
    if (this.chain.network !== "devnet" || typeof addressOrCredential !== "string") return this.blockfrost.getUtxos(addressOrCredential);
    return this.chain.utxosAt(addressOrCredential);
  }
  async getUtxosWithUnit(addressOrCredential: Address | Credential, unit: string) {
    if (this.chain.network !== "devnet" || typeof addressOrCredential !== "string") return this.blockfrost.getUtxosWithUnit(addressOrCredential, unit);
    return this.chain.utxosAtWithUnit(addressOrCredential, unit);
  }
  getUtxoByUnit(unit: string) {
    return this.blockfrost.getUtxoByUnit(unit);
  }
  getUtxosByOutRef(outRefs: Array<{ txHash: string; outputIndex: number }>) {
    return this.chain.utxosByOutRef(outRefs);
  }
  getDelegation(rewardAddress: string) {
    return this.blockfrost.getDelegation(rewardAddress);
  }
  getDatum(datumHash: string) {
    return this.blockfrost.getDatum(datumHash);
  }
  async awaitTx(txHash: string) {
    await this.chain.awaitConfirmation(txHash);
    return true;
  }
  submitTx(tx: string) {
    return this.blockfrost.submitTx(tx);
  }
  evaluateTx(tx: string, additionalUTxOs?: UTxO[]) {
    return this.blockfrost.evaluateTx(tx, additionalUTxOs);
  }
}
