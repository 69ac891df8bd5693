import { Router } from "express";
import { ntxUnit } from "../../../offchain/index.js";
import { PROTOCOL_VERSION } from "../../market/index.js";
import type { ApiContext } from "../context.js";
import { openApiDocument } from "../openapi.js";

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function systemRoutes(ctx: ApiContext, referenceScript: string | null): Router {
  const router = Router();

  router.get("/health", async (_req, res) => {
    const [chain, nats] = await Promise.all([
      within(5_000, ctx.chain.tip()).then(
        (tip) => ({ ok: true as const, height: tip.height, time: tip.time }),
        (error: unknown) => ({ ok: false as const, error: { code: (error as { code?: string }).code ?? "CHAIN_UNREACHABLE", message: (error as Error).message } }),
      ),
      ctx.nc.isClosed()
        ? Promise.resolve({ ok: false as const, error: { code: "NATS_UNAVAILABLE", message: "the NATS connection is closed" } })
        : within(3_000, ctx.nc.rtt()).then(
            (rttMs) => ({ ok: true as const, rttMs }),
            (error: unknown) => ({ ok: false as const, error: { code: "NATS_UNAVAILABLE", message: (error as Error).message } }),
          ),
    ]);
    const ok = chain.ok && nats.ok;
    if (!ok) res.setHeader("Retry-After", "5");
    res.status(ok ? 200 : 503).json({ ok, chain, nats });
  });

  router.get("/config", (_req, res) => {
    res.json({
      network: ctx.chain.network,
      devnet: ctx.chain.network === "devnet",
      protocolVersion: PROTOCOL_VERSION,
      ntx: { ...ctx.script.ntx, unit: ntxUnit(ctx.script.ntx) },
      escrow: { scriptHash: ctx.script.hash, address: ctx.script.address, referenceScript, challengeWindowMs: ctx.challengeWindowMs },
    });
  });

  router.get("/openapi.json", (_req, res) => {
    res.json(openApiDocument);
  });

  return router;
}
