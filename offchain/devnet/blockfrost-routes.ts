import express from "express";
import type { Request, Response, Router } from "express";
import { CML } from "@lucid-evolution/lucid";
import type { UTxO } from "@lucid-evolution/lucid";
import { z } from "zod/v4";
import { addressUtxo, amounts, blockContent, errorBody, genesisContent, nativeScriptJson, protocolParameters, scriptInfo, txContent, txUtxos } from "./blockfrost-json.js";
import type { DevnetLedger, TxRecord } from "./ledger.js";
import { evaluateRedeemers, TxRejected } from "./tx-checks.js";

/**
 * The subset of Blockfrost's API (v0) that Lucid Evolution 0.4.34's Blockfrost provider and the chain interface's
 * blockfrost-js queries call. Writes go through `submit`, which the server runs in its serial queue.
 */
export interface BlockfrostRoutesDeps {
  ledger: () => DevnetLedger;
  submit: (cbor: Uint8Array) => Promise<string>;
}

const PageQuery = z.object({
  page: z.coerce.number().int().min(1).max(21474836).default(1),
  count: z.coerce.number().int().min(1).max(100).default(100),
  order: z.enum(["asc", "desc"]).default("asc"),
});

const HEX64 = /^[0-9a-f]{64}$/;
const HEX56 = /^[0-9a-f]{56}$/;
/** lovelace, or a policy id (28 bytes) and an asset name of at most 32 bytes. */
const UNIT = /^(lovelace|[0-9a-f]{56}([0-9a-f]{2}){0,32})$/;
const ASSET = /^[0-9a-f]{56}([0-9a-f]{2}){0,32}$/;
/** A payment credential in bech32, as Lucid's provider asks for UTxOs by credential. */
const CREDENTIAL = /^addr_vkh1[02-9ac-hj-np-z]{51}$/;

/** Whether Blockfrost would take this as an address of the devnet (a test network): 400 otherwise, never 404. */
function isDevnetAddress(text: string): boolean {
  if (CREDENTIAL.test(text)) return true;
  if (!text.startsWith("addr_test1")) return false;
  try {
    return CML.Address.from_bech32(text).network_id() === 0;
  } catch {
    return false;
  }
}

function isStakeAddress(text: string): boolean {
  if (!text.startsWith("stake_test1")) return false;
  try {
    return CML.Address.from_bech32(text).network_id() === 0;
  } catch {
    return false;
  }
}

function page<T>(req: Request, items: T[]): T[] {
  const q = PageQuery.parse(req.query);
  const ordered = q.order === "desc" ? [...items].reverse() : items;
  return ordered.slice((q.page - 1) * q.count, q.page * q.count);
}

function notFound(res: Response): void {
  res.status(404).json(errorBody(404, "Not Found", "The requested component has not been found."));
}

function badRequest(res: Response, message: string): void {
  res.status(400).json(errorBody(400, "Bad Request", message));
}

export function blockfrostRoutes(deps: BlockfrostRoutesDeps): Router {
  const r = express.Router();
  // Malformed path parameters are 400, as Blockfrost answers them: a client must not read a typo as "not found".
  const param = (name: string, valid: (value: string) => boolean, what: string) =>
    r.param(name, (req, res, next, value: string) => (valid(value) ? next() : badRequest(res, `Invalid or malformed ${what}.`)));
  param("address", isDevnetAddress, "address format, or an address of another network");
  param("unit", (u) => UNIT.test(u), "asset unit");
  param("asset", (u) => ASSET.test(u), "asset");
  param("hash", (h) => HEX64.test(h), "transaction hash");
  param("datumHash", (h) => HEX64.test(h), "datum hash");
  param("scriptHash", (h) => HEX56.test(h), "script hash");
  param("hashOrNumber", (h) => HEX64.test(h) || /^(0|[1-9][0-9]{0,9})$/.test(h), "block hash or number");
  param("stakeAddress", isStakeAddress, "stake address format");
  const L = deps.ledger;
  const blockOf = (utxo: UTxO) => L().tx(utxo.txHash)?.block?.hash ?? L().latestBlock().hash;

  r.get("/", (_req, res) => void res.json({ url: "ntx-market devnet chain", version: "0.1.0" }));
  r.get("/health", (_req, res) => void res.json({ is_healthy: true }));
  r.get("/health/clock", (_req, res) => void res.json({ server_time: Date.now() }));
  r.get("/epochs/latest/parameters", (_req, res) => void res.json(protocolParameters(L().protocolParameters)));
  r.get("/genesis", (_req, res) => void res.json(genesisContent(L().slotConfig)));

  const blockJson = (height: number) => {
    const ledger = L();
    const block = ledger.block(String(height));
    if (!block) return undefined;
    const txs = block.txHashes.map((h) => ledger.tx(h)).filter((t): t is TxRecord => t !== undefined);
    const fees = txs.reduce((a, t) => a + t.fee, 0n);
    const output = txs.reduce((a, t) => a + t.outputs.reduce((b, u) => b + (u.assets.lovelace ?? 0n), 0n), 0n);
    const size = txs.reduce((a, t) => a + t.size, 0);
    const tip = ledger.latestBlock();
    const next = height < tip.height ? (ledger.block(String(height + 1))?.hash ?? null) : null;
    return blockContent(block, tip.height, fees, output, size, next);
  };
  r.get("/blocks/latest", (_req, res) => void res.json(blockJson(L().latestBlock().height)));
  r.get("/blocks/:hashOrNumber", (req, res) => {
    const block = L().block(req.params.hashOrNumber);
    const json = block ? blockJson(block.height) : undefined;
    if (json) res.json(json);
    else notFound(res);
  });

  r.get("/addresses/:address/utxos", (req, res) => {
    const ledger = L();
    const utxos = ledger.utxosAt(req.params.address);
    if (utxos.length === 0 && !req.params.address.startsWith("addr_vkh") && !ledger.knowsAddress(req.params.address)) return notFound(res);
    res.json(page(req, utxos).map((u) => addressUtxo(u, blockOf(u))));
  });
  r.get("/addresses/:address/utxos/:unit", (req, res) => {
    const ledger = L();
    const utxos = ledger.utxosAt(req.params.address).filter((u) => (u.assets[req.params.unit] ?? 0n) > 0n);
    if (utxos.length === 0 && !req.params.address.startsWith("addr_vkh") && !ledger.knowsAddress(req.params.address)) return notFound(res);
    res.json(page(req, utxos).map((u) => addressUtxo(u, blockOf(u))));
  });
  r.get("/addresses/:address/transactions", (req, res) => {
    const ledger = L();
    const address = req.params.address;
    if (!ledger.knowsAddress(address)) return notFound(res);
    const from = typeof req.query.from === "string" ? Number(req.query.from.split(":")[0]) : -Infinity;
    const to = typeof req.query.to === "string" ? Number(req.query.to.split(":")[0]) : Infinity;
    const txs = ledger.addressTxs(address).filter((t) => t.block!.height >= from && t.block!.height <= to);
    res.json(page(req, txs).map((t) => ({ tx_hash: t.hash, tx_index: t.block!.index, block_height: t.block!.height, block_time: Math.floor(t.block!.time / 1000) })));
  });
  r.get("/addresses/:address", (req, res) => {
    const ledger = L();
    const address = req.params.address;
    if (!ledger.knowsAddress(address)) return notFound(res);
    const total: Record<string, bigint> = {};
    for (const u of ledger.utxosAt(address)) for (const [unit, q] of Object.entries(u.assets)) total[unit] = (total[unit] ?? 0n) + q;
    const script = address.startsWith("addr") && (() => {
      try {
        return CML.Address.from_bech32(address).payment_cred()?.kind() === CML.CredentialKind.Script;
      } catch {
        return false;
      }
    })();
    res.json({ address, amount: amounts(total), stake_address: null, type: "shelley", script: Boolean(script) });
  });

  r.get("/assets/:asset/addresses", (req, res) => {
    const holders = L().assetHolders(req.params.asset);
    if (holders.length === 0) return notFound(res);
    res.json(page(req, holders).map((h) => ({ address: h.address, quantity: h.quantity.toString() })));
  });

  const confirmedTx = (hash: string) => {
    const tx = L().tx(hash);
    return tx?.block ? (tx as TxRecord & { block: NonNullable<TxRecord["block"]> }) : undefined;
  };
  r.get("/txs/:hash", (req, res) => {
    const tx = confirmedTx(req.params.hash);
    if (tx) res.json(txContent(tx));
    else notFound(res);
  });
  r.get("/txs/:hash/utxos", (req, res) => {
    const tx = confirmedTx(req.params.hash);
    if (tx) res.json(txUtxos(tx, (h, i) => L().consumedBy(h, i)));
    else notFound(res);
  });
  r.get("/txs/:hash/cbor", (req, res) => {
    const tx = confirmedTx(req.params.hash);
    if (tx) res.json({ cbor: tx.cbor });
    else notFound(res);
  });

  r.get("/scripts/datum/:datumHash/cbor", (req, res) => {
    const datum = L().datum(req.params.datumHash);
    if (datum) res.json({ cbor: datum });
    else notFound(res);
  });
  r.get("/scripts/:scriptHash", (req, res) => {
    const script = L().script(req.params.scriptHash);
    if (script) res.json(scriptInfo(req.params.scriptHash, script.type, script.script));
    else notFound(res);
  });
  // Blockfrost answers both for every script: `cbor` is null for a native one, `json` null for a Plutus one.
  r.get("/scripts/:scriptHash/cbor", (req, res) => {
    const script = L().script(req.params.scriptHash);
    if (script) res.json({ cbor: script.type === "Native" ? null : script.script });
    else notFound(res);
  });
  r.get("/scripts/:scriptHash/json", (req, res) => {
    const script = L().script(req.params.scriptHash);
    if (script) res.json({ json: script.type === "Native" ? nativeScriptJson(script.script) : null });
    else notFound(res);
  });

  // No stake accounts on the devnet: Lucid reads a missing account as "not delegated, no rewards".
  r.get("/accounts/:stakeAddress", (_req, res) => notFound(res));

  const rawCbor = express.raw({ type: () => true, limit: "1mb" });
  // As Blockfrost: the transaction's raw CBOR bytes, sent as application/cbor; anything else is 415, hex text 400.
  r.post("/tx/submit", express.raw({ type: "application/cbor", limit: "1mb" }), async (req, res) => {
    if (!req.is("application/cbor")) {
      res.status(415).json(errorBody(415, "Unsupported Media Type", `Unsupported Media Type: ${req.headers["content-type"] ?? "none"}`));
      return;
    }
    const bytes = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    if (!bytes) return badRequest(res, "the body must be the transaction's CBOR bytes (Content-Type: application/cbor)");
    try {
      res.json(await deps.submit(bytes));
    } catch (error) {
      if (error instanceof TxRejected) return badRequest(res, `transaction rejected (${error.reason}): ${error.message}`);
      throw error;
    }
  });

  r.post("/utils/txs/evaluate", rawCbor, async (req, res) => {
    const bytes = bodyBytes(req.body);
    if (!bytes) return badRequest(res, "the body must be the transaction's CBOR (hex or bytes)");
    await evaluate(res, bytes, []);
  });
  const EvaluateBody = z.object({ cbor: z.string().regex(/^[0-9a-fA-F]+$/), additionalUtxoSet: z.array(z.tuple([z.unknown(), z.unknown()])).optional() });
  r.post("/utils/txs/evaluate/utxos", express.json({ limit: "2mb" }), async (req, res) => {
    const parsed = EvaluateBody.safeParse(req.body);
    if (!parsed.success) return badRequest(res, `expected {cbor, additionalUtxoSet}: ${parsed.error.issues[0]?.message}`);
    let extra: UTxO[];
    try {
      extra = (parsed.data.additionalUtxoSet ?? []).map(([ref, out]) => ogmiosUtxo(ref, out));
    } catch (error) {
      return badRequest(res, `additionalUtxoSet: ${(error as Error).message}`);
    }
    await evaluate(res, Buffer.from(parsed.data.cbor, "hex"), extra);
  });

  async function evaluate(res: Response, bytes: Uint8Array, extra: UTxO[]): Promise<void> {
    const ledger = L();
    const reflection = { id: "devnet" };
    const envelope = { type: "jsonwsp/response", version: "1.0", servicename: "ogmios", methodname: "EvaluateTx", reflection };
    let tx: CML.Transaction;
    try {
      tx = CML.Transaction.from_cbor_bytes(bytes);
    } catch (error) {
      return badRequest(res, `not a valid transaction CBOR: ${String(error)}`);
    }
    const body = tx.body();
    const refs = [body.inputs(), body.reference_inputs()].flatMap((list) => {
      const out: Array<{ txHash: string; index: number }> = [];
      for (let i = 0; i < (list?.len() ?? 0); i++) out.push({ txHash: list!.get(i).transaction_id().to_hex(), index: Number(list!.get(i).index()) });
      return out;
    });
    const utxos: UTxO[] = [];
    const missing: string[] = [];
    for (const ref of refs) {
      const known = extra.find((u) => u.txHash === ref.txHash && u.outputIndex === ref.index) ?? ledger.unspent(ref.txHash, ref.index);
      if (known) utxos.push(known);
      else missing.push(`${ref.txHash}#${ref.index}`);
    }
    if (missing.length > 0) {
      res.json({ ...envelope, result: { EvaluationFailure: { CannotCreateEvaluationContext: { reason: `unknown or spent inputs: ${missing.join(", ")}` } } } });
      return;
    }
    try {
      const evaluated = await evaluateRedeemers(tx, utxos, ledger.protocolParameters, ledger.slotConfig, ledger.evaluate);
      const ogmiosTag = { spend: "spend", mint: "mint", cert: "certificate", reward: "withdrawal", voting: "vote", proposing: "propose" } as const;
      const result = Object.fromEntries(evaluated.map((e) => [`${ogmiosTag[e.tag]}:${e.index}`, { memory: Number(e.mem), steps: Number(e.steps) }]));
      res.json({ ...envelope, result: { EvaluationResult: result } });
    } catch (error) {
      if (!(error instanceof TxRejected)) throw error;
      res.json({ ...envelope, result: { EvaluationFailure: { ScriptFailures: { message: error.message } } } });
    }
  }

  return r;
}

function bodyBytes(body: unknown): Uint8Array | undefined {
  if (!Buffer.isBuffer(body) || body.length === 0) return undefined;
  // /utils/txs/evaluate takes the CBOR as hex text (Blockfrost's document); raw bytes are accepted too.
  const text = body.toString("latin1").trim();
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return Buffer.from(text, "hex");
  return body;
}

const OgmiosRef = z.object({ txId: z.string().regex(HEX64), index: z.number().int().nonnegative() });
const OgmiosOut = z.object({
  address: z.string(),
  value: z.object({ coins: z.union([z.number(), z.string()]), assets: z.record(z.string(), z.union([z.number(), z.string()])).optional() }),
  datumHash: z.string().nullish(),
  datum: z.string().nullish(),
  script: z.record(z.string(), z.string()).nullish(),
});

/** Lucid's provider sends wallet UTxOs in Ogmios v5 form (`{txId,index}`, `{address,value,datum…}`). */
function ogmiosUtxo(ref: unknown, out: unknown): UTxO {
  const r = OgmiosRef.parse(ref);
  const o = OgmiosOut.parse(out);
  const assets: Record<string, bigint> = { lovelace: BigInt(o.value.coins) };
  for (const [key, q] of Object.entries(o.value.assets ?? {})) assets[key.replace(".", "")] = BigInt(q);
  const [scriptKind, script] = Object.entries(o.script ?? {})[0] ?? [];
  const type = scriptKind === "plutus:v1" ? "PlutusV1" : scriptKind === "plutus:v2" ? "PlutusV2" : scriptKind === "plutus:v3" ? "PlutusV3" : undefined;
  return {
    txHash: r.txId,
    outputIndex: r.index,
    address: o.address,
    assets,
    datumHash: o.datumHash ?? undefined,
    datum: o.datum ?? undefined,
    scriptRef: type && script ? { type, script } : undefined,
  };
}
