/**
 * The one place NtxError codes become HTTP statuses. Every error leaves the API as
 * `{ error: { code, message, retryable, details? } }`; a code not listed here falls back on its `retryable` flag
 * (503: try again later) or is an internal error (500, message hidden: it may carry internals).
 */
import type { ErrorRequestHandler, Response } from "express";
import { NtxError } from "../../offchain/errors.js";

const STATUS: Record<string, number> = {
  // The request itself.
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  INVALID_ADDRESS: 400,
  INVALID_UTXO: 400,
  INVALID_TX: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BODY_TOO_LARGE: 413,
  NOT_FOUND: 404,
  // Limits (limits.ts); every one but TOO_MANY_ITEMS carries Retry-After.
  TOO_MANY_ITEMS: 413,
  RATE_LIMITED: 429,
  SSE_CLIENT_LIMIT: 429,
  SSE_LIMIT: 503,
  BUILD_BUSY: 503,
  BUILD_TIMEOUT: 503,
  BUILD_FAILED: 503,
  BUILD_CLOSED: 503,
  LOCK_GUARD_FULL: 503,
  // Market messages (the market's REJECT_CODES).
  MARKET_MALFORMED: 400,
  MARKET_UNSIGNED: 401,
  MARKET_BAD_SIGNATURE: 401,
  MARKET_BAD_KEY: 401,
  MARKET_EXPIRED: 422,
  MARKET_REPLAYED: 409,
  MARKET_OVERSIZED: 413,
  MARKET_OUT_OF_BOUNDS: 422,
  NATS_BAD_SUBJECT: 400,
  // Jobs and escrows.
  JOB_NOT_FOUND: 404,
  JOB_EXISTS: 409,
  JOB_NOT_MATCHED: 409,
  ESCROW_EXISTS: 409,
  PRICE_MISMATCH: 409,
  LOCK_PENDING: 409,
  ESCROW_NOT_FOUND: 404,
  ESCROW_STATE: 409,
  WINDOW_OPEN: 409,
  NOTHING_TO_CLAIM: 409,
  NOT_AN_ESCROW: 422,
  INVALID_LOCK: 422,
  INVALID_CLAIM: 422,
  INSUFFICIENT_FUNDS: 422,
  INSUFFICIENT_NTX: 422,
  WALLET_NO_UTXOS: 422,
  WALLET_NO_KEY: 422,
  TX_BUILD_FAILED: 422,
  TX_SIGN_FAILED: 400,
  ESCROW_NOT_DEPLOYED: 503,
  // Buyer settlement and results (routes/buyer.ts).
  NOT_THE_BUYER: 403,
  NO_ARBITER: 409,
  WINDOW_CLOSED: 409,
  DEADLINE_NOT_REACHED: 409,
  RESULT_NOT_FOUND: 404,
  RESULT_TOO_LARGE: 413,
  // The chain.
  CHAIN_TX_REJECTED: 422,
  // An input was spent meanwhile: the same transaction never goes through, one built again may.
  TX_INPUTS_SPENT: 409,
  CHAIN_BAD_REQUEST: 502,
  CHAIN_AUTH_FAILED: 502,
  CHAIN_UNREACHABLE: 503,
  CHAIN_UNAVAILABLE: 503,
  CHAIN_RATE_LIMITED: 503,
  CHAIN_CONFIRMATION_TIMEOUT: 504,
  // NATS.
  NATS_UNREACHABLE: 503,
  NATS_UNAVAILABLE: 503,
  NATS_PUBLISH: 503,
  NATS_SETUP: 503,
  NATS_KV: 503,
};

export function httpStatusOf(error: NtxError): number {
  return STATUS[error.code] ?? (error.retryable ? 503 : 500);
}

export interface ErrorBody {
  error: { code: string; message: string; retryable: boolean; details?: Record<string, unknown> };
}

export function sendError(res: Response, error: NtxError): void {
  const status = httpStatusOf(error);
  const body: ErrorBody = { error: { code: error.code, message: error.message, retryable: error.retryable } };
  if (error.details) body.error.details = JSON.parse(JSON.stringify(error.details, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
  // express-rate-limit sets its own (seconds to the window's end); others say how long is worth waiting.
  if ((status === 503 || status === 429) && error.retryable && !res.getHeader("Retry-After")) {
    const seconds = error.details?.retryAfterSeconds;
    res.setHeader("Retry-After", String(typeof seconds === "number" ? seconds : 5));
  }
  res.status(status).json(body);
}

/** body-parser's own failures (oversized, not JSON) carry a `type`; anything else unknown is internal. */
export function toNtxError(error: unknown): NtxError {
  if (error instanceof NtxError) return error;
  const e = error as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === "entity.too.large") return new NtxError("BODY_TOO_LARGE", `request body is larger than the limit of ${e.limit ?? "?"} bytes`);
  if (e?.type === "entity.parse.failed") return new NtxError("INVALID_JSON", "request body is not valid JSON");
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return new NtxError("UNSUPPORTED_MEDIA_TYPE", e.message ?? "unsupported body encoding");
  return new NtxError("INTERNAL", "internal error", { cause: error });
}

export function errorHandler(log: (error: unknown, req: { method: string; url: string }) => void): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const ntx = toNtxError(error);
    // Retryable outages are the caller's to retry and the health endpoint's to report, not a server bug.
    if (httpStatusOf(ntx) >= 500 && !ntx.retryable) log(error, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, ntx);
  };
}
