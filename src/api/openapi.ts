/**
 * The OpenAPI 3.1 document of the API, served at /api/openapi.json, generated from the zod schemas the routes
 * validate requests with (schemas.ts) and the ones the tests hold their answers to (responses.ts): one source,
 * so the document cannot drift from the code. A new route is one entry in API_ROUTES.
 */
import { z } from "zod/v4";
import { DEFAULT_LIMITS } from "./limits.js";
import * as R from "./responses.js";
import * as Q from "./schemas.js";
import { FundsRequest, JobStatusResponse, SettleRequest, StatusQuery } from "./routes/buyer.js";

type Schema = z.ZodType;

export interface RouteDoc {
  method: "get" | "post";
  /** Express path under /api, e.g. "/jobs/:jobHash". */
  path: string;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: Schema;
  /** Success statuses: a schema of the JSON answer, "event-stream" for Server-Sent Events, or "tar" for an archive. */
  ok: Record<number, Schema | "event-stream" | "tar">;
  /** Error statuses this route answers beyond the ones every route may (COMMON_ERRORS), with their codes. */
  errors?: Record<number, string>;
}

const COMMON_ERRORS: Record<number, string> = {
  400: "the request is malformed (INVALID_REQUEST, INVALID_JSON, INVALID_ADDRESS, …)",
  413: "the body is larger than this route takes (BODY_TOO_LARGE), or a list is longer (TOO_MANY_ITEMS)",
  429: "this client sent too many requests (RATE_LIMITED); see Retry-After",
  500: "internal error (INTERNAL)",
  503: "a dependency or a limit is busy: chain or NATS unreachable, build queue full, … (retryable; see Retry-After)",
};

export const API_ROUTES: RouteDoc[] = [
  { method: "get", path: "/health", summary: "Chain and NATS reachability (503, same shape, while either is down)", ok: { 200: R.HealthResponse, 503: R.HealthResponse } },
  { method: "get", path: "/config", summary: "Network, NTX asset, escrow script address", ok: { 200: R.ConfigResponse } },
  { method: "get", path: "/openapi.json", summary: "This document", ok: { 200: R.OpenApiResponse } },
  { method: "get", path: "/offers", summary: "The live offer book (verified offers, latest per provider)", query: Q.OffersQuery, ok: { 200: R.OffersResponse } },
  {
    method: "post",
    path: "/bids/prepare",
    summary: "The CIP-8 payload (hex) a wallet signs with signData for an unsigned bid, and its jobHash",
    body: Q.PrepareBidRequest,
    ok: { 200: R.PrepareBidResponse },
  },
  {
    method: "post",
    path: "/bids",
    summary: "Publish a bid signed with CIP-30 signData (COSE_Sign1); 200 when the same signed bid was already published",
    body: Q.PostBidRequest,
    ok: { 202: R.BidPostedResponse, 200: R.BidPostedResponse },
    errors: { 401: "unsigned or wrongly signed (MARKET_UNSIGNED, MARKET_BAD_SIGNATURE)", 409: "another bid for this job spec exists (JOB_EXISTS, MARKET_REPLAYED)", 422: "expired (MARKET_EXPIRED)" },
  },
  {
    method: "get",
    path: "/jobs/:jobHash",
    summary: "A job: market record, match, escrows on chain (null with chain.error while the chain is unreachable), provider events",
    params: Q.JobHashParams,
    ok: { 200: R.JobResponse },
    errors: { 404: "unknown job (JOB_NOT_FOUND)" },
  },
  {
    method: "get",
    path: "/jobs/:jobHash/events",
    summary: "Server-Sent Events of a job: record, match, confirm, event, log (a bounded replay of stored ones first), ready; heartbeat comments",
    params: Q.JobHashParams,
    ok: { 200: "event-stream" },
    errors: { 404: "unknown job (JOB_NOT_FOUND)", 429: "this client holds its maximum of open streams (SSE_CLIENT_LIMIT) or sent too many requests (RATE_LIMITED)", 503: "the server holds its maximum of open streams (SSE_LIMIT), or NATS is unreachable" },
  },
  {
    method: "post",
    path: "/tx/lock",
    summary: "Unsigned lock tx of a matched job for a browser wallet (amount, payout, proof key, deadline from the verified match)",
    body: Q.LockRequest,
    ok: { 200: R.LockResponse },
    errors: { 404: "JOB_NOT_FOUND", 409: "JOB_NOT_MATCHED, ESCROW_EXISTS, PRICE_MISMATCH", 422: "INSUFFICIENT_NTX, INSUFFICIENT_FUNDS, WALLET_NO_UTXOS, TX_BUILD_FAILED", 503: "BUILD_BUSY, BUILD_TIMEOUT, or the chain/NATS is unreachable" },
  },
  {
    method: "post",
    path: "/tx/claim",
    summary: "Unsigned batched claim tx of a provider's completed escrows past their challenge window",
    body: Q.ClaimRequest,
    ok: { 200: R.ClaimResponse },
    errors: { 404: "ESCROW_NOT_FOUND", 409: "NOTHING_TO_CLAIM, WINDOW_OPEN", 422: "INVALID_CLAIM, INSUFFICIENT_FUNDS, WALLET_NO_UTXOS", 503: "BUILD_BUSY, BUILD_TIMEOUT, ESCROW_NOT_DEPLOYED, or the chain is unreachable" },
  },
  {
    method: "post",
    path: "/tx/submit",
    summary: "Assemble a tx with the wallet's witness set (CIP-30 signTx(tx, true)) and submit it",
    body: Q.SubmitRequest,
    ok: { 202: R.SubmitResponse },
    errors: {
      400: "not a transaction, or the witness set does not fit it (INVALID_TX, TX_SIGN_FAILED)",
      409: "a lock of the same job is pending or confirmed (LOCK_PENDING, ESCROW_EXISTS)",
      422: "the chain refused it (CHAIN_TX_REJECTED)",
      503: "LOCK_GUARD_FULL, or the chain is unreachable",
    },
  },
  { method: "get", path: "/tx/:txHash", summary: "Confirmation status of a transaction", params: Q.TxHashParams, ok: { 200: R.TxStatusResponse } },
  { method: "get", path: "/payouts/:address", summary: "Escrows paying a provider address, with when each becomes claimable", params: Q.AddressParams, ok: { 200: R.PayoutsResponse } },
  { method: "get", path: "/buyer/config", summary: "NTX decimals, the challenge window, the fee allowance and the min-ADA a lock puts in escrow", ok: { 200: R.BuyerConfigResponse } },
  {
    method: "get",
    path: "/jobs/:jobHash/status",
    summary: "Where a job stands (its phase), what happens next and when, and which actions apply",
    params: Q.JobHashParams,
    query: StatusQuery,
    ok: { 200: JobStatusResponse },
  },
  {
    method: "get",
    path: "/jobs/:jobHash/result",
    summary: "The job's result archive (canonical tar; its blake2b-256 is the resultHash)",
    params: Q.JobHashParams,
    ok: { 200: "tar" },
    errors: { 404: "RESULT_NOT_FOUND", 413: "RESULT_TOO_LARGE" },
  },
  { method: "get", path: "/wallet/:address/jobs", summary: "Escrows this wallet locked, as the chain has them", params: Q.AddressParams, ok: { 200: R.WalletJobsResponse } },
  {
    method: "post",
    path: "/buyer/funds",
    summary: "Checked before a bid is signed: the wallet's UTxOs on the chain pay the max price, the lock's min-ADA, the fee and the NTX change",
    body: FundsRequest,
    ok: { 200: R.FundsResponse },
    errors: { 422: "INSUFFICIENT_NTX, INSUFFICIENT_FUNDS, WALLET_NO_UTXOS" },
  },
  ...(["accept", "dispute", "refund"] as const).map(
    (action): RouteDoc => ({
      method: "post",
      path: `/tx/${action}`,
      summary: `Unsigned ${action} tx of a job's escrow for the wallet that locked it`,
      body: SettleRequest,
      ok: { 200: R.SettleResponse },
      errors: { 403: "NOT_THE_BUYER", 404: "ESCROW_NOT_FOUND", 409: "ESCROW_STATE", 422: "INSUFFICIENT_FUNDS, WALLET_NO_UTXOS, TX_BUILD_FAILED", 503: "BUILD_BUSY, BUILD_TIMEOUT, or the chain is unreachable" },
    }),
  ),
  { method: "get", path: "/balance/:address", summary: "ADA and NTX at an address (one chain request, however many UTxOs it holds)", params: Q.AddressParams, ok: { 200: R.BalanceResponse } },
];

function jsonSchema(schema: Schema, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodObject | undefined, where: "path" | "query") {
  if (!schema) return [];
  const json = jsonSchema(schema, "input") as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({ name, in: where, required: where === "path" || (json.required ?? []).includes(name), schema: s }));
}

const retryAfter = { "Retry-After": { description: "seconds to wait before retrying", schema: { type: "integer" } } };

function operation(route: RouteDoc) {
  const responses: Record<string, object> = {};
  for (const [status, schema] of Object.entries(route.ok)) {
    responses[status] =
      schema === "event-stream"
        ? { description: "event stream", content: { "text/event-stream": { schema: { type: "string" } } } }
        : schema === "tar"
          ? { description: "archive", content: { "application/x-tar": { schema: { type: "string", contentMediaType: "application/x-tar" } } } }
          : { description: "success", content: { "application/json": { schema: jsonSchema(schema, "output") } } };
  }
  for (const [status, description] of Object.entries({ ...COMMON_ERRORS, ...route.errors })) {
    if (responses[status]) continue;
    responses[status] = {
      description,
      ...(status === "429" || status === "503" ? { headers: retryAfter } : {}),
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
  }
  const params = [...parameters(route.params, "path"), ...parameters(route.query, "query")];
  return {
    summary: route.summary,
    ...(params.length ? { parameters: params } : {}),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(route.body, "input") } } } } : {}),
    responses,
  };
}

export function openApiPath(expressPath: string): string {
  return `/api${expressPath.replace(/:([A-Za-z]+)/g, "{$1}")}`;
}

function buildDocument() {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of API_ROUTES) (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route);
  return {
    openapi: "3.1.0",
    info: {
      title: "ntx-market API",
      version: "0.1.0",
      description: `Offers, bids and jobs of the ntx-market (over NATS) and wallet transactions for its Cardano escrow. Every error is {error: {code, message, retryable}}; limits answer 429 or 503 with Retry-After (defaults: ${DEFAULT_LIMITS.clientRequests} requests per client per ${DEFAULT_LIMITS.windowMs / 1000} s, ${DEFAULT_LIMITS.sse.perClient} event streams per client).`,
    },
    servers: [{ url: "/" }],
    components: { schemas: { Error: jsonSchema(R.ErrorResponse, "output") } },
    paths,
  };
}

export const openApiDocument = buildDocument();
