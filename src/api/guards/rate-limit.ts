/**
 * Request counting with express-rate-limit: one counter per client for all routes, one per client and route
 * class. Over either, the answer is 429 RATE_LIMITED with `Retry-After` (seconds to the window's end).
 */
import type { Request, RequestHandler, Response } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import { NtxError } from "../../../offchain/errors.js";
import { sendError } from "../errors.js";
import { limitFor, routeClass, type ApiLimits } from "../limits.js";

/** The client a request counts against: its IP (an IPv6 client by its /56, as the library advises). */
export function clientKey(req: Request): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? "unknown");
}

export function rateLimits(limits: ApiLimits): RequestHandler[] {
  const refuse = (scope: "client" | "route") =>
    (req: Request, res: Response): void => {
      const cls = routeClass(req);
      const limit = scope === "client" ? limits.clientRequests : limitFor(limits.routeRequests, cls);
      sendError(
        res,
        new NtxError("RATE_LIMITED", scope === "client" ? `more than ${limit} requests in ${limits.windowMs / 1000} s from this client: slow down` : `more than ${limit} requests to ${cls} in ${limits.windowMs / 1000} s from this client: slow down`, {
          retryable: true,
          details: { scope, route: cls, limit, windowMs: limits.windowMs },
        }),
      );
    };
  const common = { windowMs: limits.windowMs, standardHeaders: "draft-8" as const, legacyHeaders: false };
  return [
    rateLimit({ ...common, limit: limits.clientRequests, keyGenerator: clientKey, handler: refuse("client") }),
    rateLimit({ ...common, limit: (req) => limitFor(limits.routeRequests, routeClass(req)), keyGenerator: (req) => `${clientKey(req)} ${routeClass(req)}`, handler: refuse("route") }),
  ];
}
