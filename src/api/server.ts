/**
 * The HTTP server: REST under /api (express 5; async handlers' errors reach the one error handler), Server-Sent
 * Events for jobs, and the built web page from `webDir`.
 */
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { join, resolve } from "node:path";
import express from "express";
import { pino, type Logger } from "pino";
import type { Chain } from "../../offchain/chain/index.js";
import { escrowScript, loadDeployment, type EscrowDeployment, type NtxAsset } from "../../offchain/index.js";
import { NtxError } from "../../offchain/errors.js";
import type { MarketTransport } from "../market/index.js";
import { createMarketClient, createNatsMarketTransport, type NatsConnection, type NatsMarketTransport } from "../nats/index.js";
import type { ApiContext } from "./context.js";
import { errorHandler, sendError } from "./errors.js";
import { EscrowReads } from "../../offchain/escrow-reads.js";
import { jsonBodies } from "./guards/body-limit.js";
import { exposureNotice, isLoopbackHost } from "./guards/exposure.js";
import { rateLimits } from "./guards/rate-limit.js";
import { SseSlots } from "./guards/sse-slots.js";
import { JobFeed } from "./job-feed.js";
import { resolveLimits, type ApiLimitsInput } from "./limits.js";
import { LockGuard } from "./lock-guard.js";
import { OfferBook } from "./offer-book.js";
import { buyerRoutes } from "./routes/buyer.js";
import { marketRoutes } from "./routes/market.js";
import { systemRoutes } from "./routes/system.js";
import { txRoutes } from "./routes/tx.js";
import { createTxBuildPool } from "../runtime/tx-pool/pool.js";

export interface ApiServerParams {
  /** The chain every read, build and submit goes through (devnet chain server or Blockfrost). */
  chain: Chain;
  /** NATS connection of the market (from src/nats connectNats); the caller owns and closes it. */
  nats: NatsConnection;
  /** The market transport over `nats`; created (and closed with the server) when not given. */
  transport?: MarketTransport;
  /** The NTX asset of the network: the escrow script is derived from it. */
  ntx: NtxAsset;
  escrow?: {
    /** Out-ref of the escrow's reference-script UTxO; claims need it (503 ESCROW_NOT_DEPLOYED without). */
    referenceScript?: { txHash: string; outputIndex: number };
    /** Challenge window written into each lock's datum, ms (default 1 hour). */
    challengeWindowMs?: number;
  };
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Folder of the built page (`npm run build:web` → dist/web); default dist/web when it exists; null = API only. */
  webDir?: string | null;
  /** Every bound on what clients can make the API do (limits.ts: DEFAULT_LIMITS); partial values merge into the defaults. */
  limits?: ApiLimitsInput;
  /** Listening beyond loopback (`host` not 127.x/::1/localhost) must be asked for by name. */
  expose?: boolean;
  /** Where the exposure warning goes (default stderr). */
  announce?: (line: string) => void;
  /** SSE heartbeat comment interval (default 15 s). */
  sseHeartbeatMs?: number;
  now?: () => number;
  logger?: Logger;
}

export interface ApiServer {
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

const LUCID_NETWORK = { devnet: "Custom", preview: "Preview", preprod: "Preprod", mainnet: "Mainnet" } as const;
const DEFAULT_WEB_DIR = resolve(new URL("../../", import.meta.url).pathname, "dist/web");

export async function startApiServer(params: ApiServerParams): Promise<ApiServer> {
  const log = params.logger ?? pino({ level: process.env.NTX_LOG_LEVEL ?? "warn" });
  const webDir = params.webDir === undefined ? (existsSync(join(DEFAULT_WEB_DIR, "index.html")) ? DEFAULT_WEB_DIR : null) : params.webDir;
  if (webDir && !existsSync(join(webDir, "index.html"))) {
    throw new NtxError("WEB_NOT_BUILT", `${webDir} has no index.html: build the page first (npm run build:web), or start the API with webDir: null`);
  }
  const host = params.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !params.expose) {
    throw new NtxError("EXPOSURE_NOT_ALLOWED", `the API would listen on ${host}, beyond this machine: pass the expose flag (--expose) to mean it`);
  }
  const limits = resolveLimits(params.limits);
  const now = params.now ?? Date.now;
  const script = escrowScript(params.ntx, LUCID_NETWORK[params.chain.network]);
  let ownTransport: NatsMarketTransport | undefined;
  const transport = params.transport ?? (ownTransport = await createNatsMarketTransport(params.nats));
  const book = new OfferBook(now);
  const builds = createTxBuildPool(params.chain, limits.builds);
  const release = async () => {
    await book.stop();
    await builds.close();
    await ownTransport?.close();
  };

  const referenceScript = params.escrow?.referenceScript;
  let deployment: Promise<EscrowDeployment> | undefined;
  const ctx: ApiContext = {
    chain: params.chain,
    nc: params.nats,
    transport,
    client: createMarketClient(params.nats),
    feed: new JobFeed(params.nats),
    book,
    locks: new LockGuard(params.chain, now, limits.lockGuard),
    script,
    escrows: new EscrowReads(params.chain, script, limits.escrowCacheMs),
    builds,
    sse: new SseSlots(limits.sse),
    limits,
    challengeWindowMs: params.escrow?.challengeWindowMs ?? 3_600_000,
    mainnet: params.chain.network === "mainnet",
    now,
    sseHeartbeatMs: params.sseHeartbeatMs ?? 15_000,
    deployment() {
      if (!referenceScript) return Promise.reject(new NtxError("ESCROW_NOT_DEPLOYED", "this API was started without the escrow's reference-script UTxO: claims cannot be built"));
      deployment ??= params.chain.lucid().then((lucid) => loadDeployment(lucid, script, referenceScript)).catch((error: unknown) => {
        deployment = undefined;
        throw error;
      });
      return deployment;
    },
  };

  const app = express();
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    // The page asks wallets to sign: never let another site frame it (clickjacking).
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    next();
  });
  app.set("query parser", "simple");
  const api = express.Router();
  // Limits first: every route, including ones added later, is counted and has its body bounded (limits.ts).
  api.use(...rateLimits(limits), jsonBodies(limits));
  api.use(systemRoutes(ctx, referenceScript ? `${referenceScript.txHash}#${referenceScript.outputIndex}` : null));
  api.use(marketRoutes(ctx));
  api.use(txRoutes(ctx));
  api.use(buyerRoutes(ctx));
  api.use((req, res) => sendError(res, new NtxError("NOT_FOUND", `no API route ${req.method} ${req.path}`)));
  app.use("/api", api);

  if (webDir) {
    app.use(express.static(webDir, { index: "index.html", maxAge: 0 }));
    app.get(/^\/(?!api\/).*/, (_req, res) => res.sendFile(join(webDir, "index.html")));
  } else {
    app.get(/^\/(?!api\/).*/, (_req, res) => {
      res.status(404).type("text/plain").send("The ntx-market web page is not built into this server: run `npm run build:web`, then restart it. The API is at /api.\n");
    });
  }
  app.use(errorHandler((error, req) => log.error({ err: error, method: req.method, url: req.url }, "request failed")));

  let server: Server;
  try {
    await book.start(transport);
    server = await new Promise((resolveServer, reject) => {
      const s = app.listen(params.port ?? 0, host, (error?: Error) => (error ? reject(error) : resolveServer(s)));
    });
  } catch (error) {
    await release();
    if (error instanceof NtxError) throw error;
    throw new NtxError("API_START_FAILED", `the API server could not start: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  let closing: Promise<void> | undefined;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (!isLoopbackHost(host)) {
    (params.announce ?? ((line: string) => process.stderr.write(`${line}\n`)))(
      exposureNotice("the ntx-market API", url, [
        "the REST API (offers, bids, jobs, wallet transaction building and submission)",
        "job event streams",
        ...(webDir ? ["the web page"] : []),
        `limits per client: ${limits.clientRequests} requests / ${limits.windowMs / 1000} s, ${limits.sse.perClient} event streams`,
      ]),
    );
  }
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        ctx.sse.closeAll();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await release();
      })();
      return closing;
    },
  };
}
