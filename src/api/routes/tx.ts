/** Wallet transactions (lock, claim, submit), their status, payouts and balances: the chain side of the API. */
import { Router } from "express";
import { ntxUnit } from "../../../offchain/index.js";
import { normalizeAddress } from "../address.js";
import type { ApiContext } from "../context.js";
import { AddressParams, ClaimRequest, LockRequest, SubmitRequest, TxHashParams } from "../schemas.js";
import { parseRequest } from "../validate.js";
import { buildWalletClaim, buildWalletLock, payoutsOf, submitWalletTx } from "../wallet-tx.js";

export function txRoutes(ctx: ApiContext): Router {
  const router = Router();

  router.post("/tx/lock", async (req, res) => {
    const body = parseRequest(LockRequest, req.body ?? {}, "body");
    res.json(await buildWalletLock(ctx, body));
  });

  router.post("/tx/claim", async (req, res) => {
    const body = parseRequest(ClaimRequest, req.body ?? {}, "body");
    res.json(await buildWalletClaim(ctx, body));
  });

  router.post("/tx/submit", async (req, res) => {
    const body = parseRequest(SubmitRequest, req.body ?? {}, "body");
    res.status(202).json(await submitWalletTx(ctx, body));
  });

  router.get("/tx/:txHash", async (req, res) => {
    const { txHash } = parseRequest(TxHashParams, req.params, "params");
    const status = await ctx.chain.txStatus(txHash);
    res.json(status.state === "confirmed" ? { ...status, fee: status.fee.toString() } : status);
  });

  router.get("/payouts/:address", async (req, res) => {
    const { address } = parseRequest(AddressParams, req.params, "params");
    res.json(await payoutsOf(ctx, address));
  });

  router.get("/balance/:address", async (req, res) => {
    const { address: text } = parseRequest(AddressParams, req.params, "params");
    const address = normalizeAddress(text, ctx.mainnet);
    // One chain request whatever the address holds (an exchange's address has thousands of UTxOs).
    const total = await ctx.chain.addressTotal(address);
    res.json({ address, lovelace: (total.lovelace ?? 0n).toString(), ntx: (total[ntxUnit(ctx.script.ntx)] ?? 0n).toString() });
  });

  return router;
}
