import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import express from "express";
import type { NextFunction, Request, Response } from "express";
import { PROTOCOL_PARAMETERS_DEFAULT } from "@lucid-evolution/lucid";
import { z } from "zod/v4";
import { NtxError, isNtxError } from "../errors.js";
import { blockfrostRoutes } from "./blockfrost-routes.js";
import { errorBody } from "./blockfrost-json.js";
import { DevnetFaucet } from "./faucet.js";
import { loadOrCreateKeys } from "./keys.js";
import { DevnetLedger, type BlockRecord } from "./ledger.js";
import { devnetAddressOf, devnetNtxPolicy, NTX_ASSET_NAME_HEX } from "./ntx-policy.js";
import { readStateFile, writeStateFile, type StateFile } from "./persistence.js";
import { CoalescingWriter } from "./coalescing-writer.js";
import { SerialQueue } from "./serial-queue.js";
import { createScriptEvaluator, EvaluatorBusy } from "./script-evaluator.js";
import { TxRejected } from "./tx-checks.js";
import { exposureNotice, isLoopbackHost, isLoopbackRemote } from "./exposure.js";

export interface DevnetServerOptions {
  /** Where the chain state lives; the faucet and NTX policy keys are kept in the same folder. */
  stateFile: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** A block every this many ms; 0 = blocks only on demand (POST /devnet/block). Default 1000. */
  blockTimeMs?: number;
  /** Default amounts the faucet hands out when a request names none. */
  faucetDefaults?: { lovelace: bigint; ntx: bigint };
  /** Listening beyond loopback (`host` not 127.x/::1/localhost) must be asked for by name. */
  expose?: boolean;
  /**
   * The endpoints that give anything away or cost the server work — the faucet, forced blocks, script evaluation
   * — answer only callers on this machine, each unless opened here, on top of `expose`.
   */
  openToNetwork?: { faucet?: boolean; blocks?: boolean; evaluate?: boolean };
  /** Extra genesis outputs of a new chain (a test's address with thousands of UTxOs); ignored on restore. */
  genesisOutputs?: Array<{ address: string; lovelace: bigint }>;
  /** Where the exposure warning goes (default: `log`). */
  announce?: (line: string) => void;
  log?: (message: string) => void;
}

/** What `GET /devnet/info` answers: everything another component needs to configure itself for this devnet. */
export interface DevnetInfo {
  network: "devnet";
  networkId: 0;
  lucidNetwork: "Custom";
  slotConfig: { zeroTime: number; zeroSlot: number; slotLength: number };
  blockTimeMs: number;
  ntx: { policyId: string; assetName: string; unit: string };
  faucetAddress: string;
  tip: { height: number; hash: string; slot: number; time: number };
}

export interface DevnetServer {
  readonly url: string;
  readonly port: number;
  info(): DevnetInfo;
  produceBlock(): Promise<BlockRecord>;
  close(): Promise<void>;
}

const GENESIS_FAUCET_LOVELACE = 10_000_000_000_000_000n;

const FaucetBody = z.object({
  address: z.string().min(1),
  lovelace: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).optional(),
  ntx: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).optional(),
});

export async function startDevnetServer(options: DevnetServerOptions): Promise<DevnetServer> {
  const log = options.log ?? (() => undefined);
  const host = options.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !options.expose) {
    throw new NtxError("EXPOSURE_NOT_ALLOWED", `the devnet chain would listen on ${host}, beyond this machine: pass the expose flag (--expose) to mean it`);
  }
  const blockTimeMs = options.blockTimeMs ?? 1000;
  const faucetDefaults = options.faucetDefaults ?? { lovelace: 10_000_000_000n, ntx: 1_000_000_000n };
  const stored = await readStateFile(options.stateFile);
  const keys = await loadOrCreateKeys(dirname(options.stateFile), stored !== undefined);
  const policy = devnetNtxPolicy(keys.ntxPolicyKey);
  const faucetAddress = devnetAddressOf(keys.faucetKey);
  if (stored && (stored.keys.faucetAddress !== faucetAddress || stored.keys.ntxPolicyId !== policy.policyId)) {
    throw new NtxError("DEVNET_KEY_MISMATCH", `the keys beside ${options.stateFile} are not the ones this chain was created with; restore them or start a fresh chain elsewhere`);
  }
  const ledger = stored
    ? DevnetLedger.restore(stored.ledger)
    : DevnetLedger.genesis({ now: Date.now(), protocolParameters: PROTOCOL_PARAMETERS_DEFAULT, accounts: [{ address: faucetAddress, assets: { lovelace: GENESIS_FAUCET_LOVELACE } }, ...(options.genesisOutputs ?? []).map((o) => ({ address: o.address, assets: { lovelace: o.lovelace } }))] });
  // Scripts run on their own thread: a large batch's evaluation must not stall this server's reads and blocks (nor,
  // under `ntx up`, the components sharing its process).
  const evaluator = createScriptEvaluator();
  ledger.evaluate = (request) => evaluator.evaluate(request);
  log(stored ? `devnet chain restored from ${options.stateFile} at height ${ledger.latestBlock().height}` : `new devnet chain in ${options.stateFile}`);
  const faucet = await DevnetFaucet.create(ledger, keys.faucetKey, policy, keys.ntxPolicyKey);

  // The ledger changes only inside this queue; a change is acknowledged only once a state write that began after
  // it has finished (writes are shared between the changes that wait for them).
  const queue = new SerialQueue();
  let lastSave = Date.now();
  const writer = new CoalescingWriter(() => {
    lastSave = Date.now();
    const state: StateFile = { version: 1, network: "devnet", keys: { faucetAddress, ntxPolicyId: policy.policyId }, ledger: ledger.snapshot() };
    return writeStateFile(options.stateFile, state);
  });
  await writer.request();

  let closed = false;
  const produce = async (force: boolean) => {
    const block = await queue.run(() => ledger.produceBlock());
    // Empty blocks move only the tip: writing the whole state for each would rewrite the file every second for nothing.
    if (force || block.txHashes.length > 0 || Date.now() - lastSave > 10_000) await writer.request();
    return block;
  };

  const info = (): DevnetInfo => {
    const tip = ledger.latestBlock();
    return {
      network: "devnet",
      networkId: 0,
      lucidNetwork: "Custom",
      slotConfig: ledger.slotConfig,
      blockTimeMs,
      ntx: { policyId: policy.policyId, assetName: NTX_ASSET_NAME_HEX, unit: policy.unit },
      faucetAddress,
      tip: { height: tip.height, hash: tip.hash, slot: tip.slot, time: tip.time },
    };
  };

  const app = express();
  app.disable("x-powered-by");
  const open = options.openToNetwork ?? {};
  const loopbackOnly = (what: string, opened: boolean | undefined) => (req: Request, res: Response, next: NextFunction) => {
    if (opened || isLoopbackRemote(req.socket.remoteAddress)) return next();
    res.status(403).json(errorBody(403, "Forbidden", `${what} answers only callers on the chain server's machine (start it with the flag that opens it to the network)`));
  };
  app.use("/devnet/faucet", loopbackOnly("the devnet faucet", open.faucet));
  app.use("/devnet/block", loopbackOnly("forced block production", open.blocks));
  app.use("/utils/txs/evaluate", loopbackOnly("script evaluation", open.evaluate));
  app.get("/devnet/info", (_req, res) => void res.json(info()));
  app.post("/devnet/block", async (_req, res) => {
    const block = await produce(true);
    res.json({ height: block.height, hash: block.hash, slot: block.slot, time: block.time, tx_count: block.txHashes.length });
  });
  app.post("/devnet/faucet", express.json(), async (req, res) => {
    const parsed = FaucetBody.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json(errorBody(400, "Bad Request", `expected {address, lovelace?, ntx?} with amounts in base units: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`));
      return;
    }
    const lovelace = parsed.data.lovelace === undefined ? faucetDefaults.lovelace : BigInt(parsed.data.lovelace);
    const ntx = parsed.data.ntx === undefined ? faucetDefaults.ntx : BigInt(parsed.data.ntx);
    const txHash = await queue.run(() => faucet.fund(parsed.data.address, lovelace, ntx));
    await writer.request();
    res.json({ tx_hash: txHash, address: parsed.data.address, lovelace: lovelace.toString(), ntx: ntx.toString(), unit: policy.unit });
  });
  app.use(
    blockfrostRoutes({
      ledger: () => ledger,
      submit: async (cbor) => {
        const hash = await queue.run(() => ledger.submit(cbor));
        await writer.request();
        log(`accepted tx ${hash}`);
        return hash;
      },
    }),
  );
  app.use((_req: Request, res: Response) => void res.status(404).json(errorBody(404, "Not Found", "The requested component has not been found.")));
  // Express 5 forwards rejected async handlers here; every failure leaves in Blockfrost's error shape.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof TxRejected) return void res.status(400).json(errorBody(400, "Bad Request", error.message));
    if (error instanceof EvaluatorBusy) return void res.status(503).json(errorBody(503, "Service Unavailable", error.message));
    if (isNtxError(error) && !error.retryable) return void res.status(400).json(errorBody(400, "Bad Request", error.message));
    if (error instanceof z.ZodError) return void res.status(400).json(errorBody(400, "Bad Request", error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")));
    const status = (error as { status?: number }).status;
    if (status && status >= 400 && status < 500) return void res.status(status).json(errorBody(status, "Bad Request", (error as Error).message));
    log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    res.status(500).json(errorBody(500, "Internal Server Error", `devnet chain server error: ${error instanceof Error ? error.message : String(error)}`));
  });

  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new NtxError("DEVNET_LISTEN_FAILED", `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`, { cause: error })));
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (!isLoopbackHost(host)) {
    (options.announce ?? log)(
      exposureNotice("the devnet chain", url, [
        "the Blockfrost-compatible chain API (reads, transaction submission)",
        open.faucet ? "the faucet (free devnet ADA and NTX for anyone)" : "not the faucet (this machine only)",
        open.blocks ? "forced block production" : "not forced blocks (this machine only)",
        open.evaluate ? "script evaluation" : "not script evaluation (this machine only)",
      ]),
    );
  }
  const timer = blockTimeMs > 0 ? setInterval(() => void produce(false).catch((e: unknown) => log(`block production failed: ${String(e)}`)), blockTimeMs) : undefined;
  log(`devnet chain listening on ${url} (block time ${blockTimeMs > 0 ? `${blockTimeMs} ms` : "on demand"})`);

  return {
    url,
    port,
    info,
    produceBlock: () => produce(true),
    close: async () => {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await evaluator.close();
      await queue.run(() => undefined);
      await writer.request();
    },
  };
}
