/**
 * The OpenAPI 3 document of the API, served at /api/openapi.json. Written by hand next to the zod schemas in
 * schemas.ts; the API tests check that every route the server answers is listed here.
 */
const hash = { type: "string", pattern: "^[0-9a-f]{64}$" };
const amount = { type: "string", pattern: "^[0-9]+$", description: "base units, decimal string" };
const address = { type: "string", description: "bech32 (addr…/addr_test…) or CIP-30 hex" };
const error = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message", "retryable"],
      properties: { code: { type: "string" }, message: { type: "string" }, retryable: { type: "boolean" }, details: { type: "object" } },
    },
  },
};
const err = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
const ok = (description: string, schema: object = { type: "object" }) => ({ description, content: { "application/json": { schema } } });
const body = (schema: object) => ({ required: true, content: { "application/json": { schema } } });
const common = { "400": err("invalid request (INVALID_REQUEST, INVALID_JSON, INVALID_ADDRESS, …)"), "413": err("body too large (BODY_TOO_LARGE)"), "503": err("chain or NATS unavailable (retryable)") };
const walletFunds = {
  address,
  utxos: { type: "array", minItems: 1, items: { type: "string", description: "CIP-30 getUtxos() entry, CBOR hex" } },
};
const unsignedTx = {
  type: "object",
  properties: { tx: { type: "string", description: "unsigned tx CBOR hex, for CIP-30 signTx(tx, true)" }, txHash: hash, fee: amount },
};
const jobHashParam = { name: "jobHash", in: "path", required: true, schema: hash };

export const openApiDocument = {
  openapi: "3.0.3",
  info: { title: "ntx-market API", version: "0.1.0", description: "Offers, bids and jobs of the ntx-market (over NATS) and wallet transactions for its Cardano escrow." },
  servers: [{ url: "/" }],
  components: { schemas: { Error: error } },
  paths: {
    "/api/health": { get: { summary: "Chain and NATS reachability", responses: { "200": ok("healthy"), "503": ok("chain or NATS down") } } },
    "/api/config": { get: { summary: "Network, NTX asset, escrow script address", responses: { "200": ok("config") } } },
    "/api/openapi.json": { get: { summary: "This document", responses: { "200": ok("OpenAPI 3 document") } } },
    "/api/offers": {
      get: {
        summary: "The live offer book (verified offers, latest per provider)",
        parameters: [
          { name: "region", in: "query", schema: { type: "string" } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
        ],
        responses: { "200": ok("offers"), "400": common["400"] },
      },
    },
    "/api/bids/prepare": {
      post: {
        summary: "The CIP-8 payload (hex) a wallet signs with signData for an unsigned bid, and its jobHash",
        requestBody: body({ type: "object", required: ["bid"], properties: { bid: { type: "object", description: "market UnsignedBid" } } }),
        responses: { "200": ok("payload", { type: "object", properties: { jobHash: hash, payload: { type: "string" }, text: { type: "string" } } }), ...common },
      },
    },
    "/api/bids": {
      post: {
        summary: "Publish a bid signed with CIP-30 signData (COSE_Sign1)",
        requestBody: body({ type: "object", description: "market Bid: UnsignedBid + signature {signature, key}" }),
        responses: {
          "202": ok("published", { type: "object", properties: { jobHash: hash, seq: { type: "integer" }, duplicate: { type: "boolean" } } }),
          "200": ok("the same signed bid was already published"),
          "401": err("unsigned or wrongly signed (MARKET_UNSIGNED, MARKET_BAD_SIGNATURE)"),
          "409": err("another bid for this job spec exists (JOB_EXISTS)"),
          "422": err("expired (MARKET_EXPIRED)"),
          ...common,
        },
      },
    },
    "/api/jobs/{jobHash}": {
      get: { summary: "A job: market record, match, escrows on chain (null with chain.error while the chain is unreachable), provider events", parameters: [jobHashParam], responses: { "200": ok("job"), "404": err("unknown job (JOB_NOT_FOUND)"), ...common } },
    },
    "/api/jobs/{jobHash}/events": {
      get: {
        summary: "Server-Sent Events of a job: record, match, confirm, event, log (stored ones first), ready; heartbeat comments",
        parameters: [jobHashParam],
        responses: { "200": { description: "event stream", content: { "text/event-stream": { schema: { type: "string" } } } }, "404": err("unknown job (JOB_NOT_FOUND)"), ...common },
      },
    },
    "/api/tx/lock": {
      post: {
        summary: "Unsigned lock tx of a matched job for a browser wallet (amount, payout, proof key, deadline from the verified match)",
        requestBody: body({ type: "object", required: ["address", "utxos", "jobHash"], properties: { ...walletFunds, jobHash: hash, expectedAmount: amount } }),
        responses: { "200": ok("unsigned tx", unsignedTx), "404": err("JOB_NOT_FOUND"), "409": err("JOB_NOT_MATCHED, ESCROW_EXISTS, PRICE_MISMATCH"), "422": err("INSUFFICIENT_NTX, INSUFFICIENT_FUNDS, WALLET_NO_UTXOS, TX_BUILD_FAILED"), ...common },
      },
    },
    "/api/tx/claim": {
      post: {
        summary: "Unsigned batched claim tx of a provider's completed escrows past their challenge window",
        requestBody: body({ type: "object", required: ["address", "utxos"], properties: { ...walletFunds, escrows: { type: "array", items: { type: "string", pattern: "^[0-9a-f]{64}#[0-9]+$" } } } }),
        responses: { "200": ok("unsigned tx", unsignedTx), "404": err("ESCROW_NOT_FOUND"), "409": err("NOTHING_TO_CLAIM, WINDOW_OPEN"), "422": err("INVALID_CLAIM, INSUFFICIENT_FUNDS"), ...common },
      },
    },
    "/api/tx/submit": {
      post: {
        summary: "Assemble a tx with the wallet's witness set (CIP-30 signTx(tx, true)) and submit it",
        requestBody: body({ type: "object", required: ["tx", "witnessSet"], properties: { tx: { type: "string" }, witnessSet: { type: "string" } } }),
        responses: {
          "202": ok("submitted", { type: "object", properties: { txHash: hash } }),
          "400": err("not a transaction, or the witness set does not fit it (INVALID_TX, TX_SIGN_FAILED)"),
          "409": err("a lock of the same job is pending or confirmed (LOCK_PENDING, ESCROW_EXISTS)"),
          "422": err("the chain refused it (CHAIN_TX_REJECTED)"),
          "413": common["413"],
          "503": common["503"],
        },
      },
    },
    "/api/tx/{txHash}": {
      get: { summary: "Confirmation status of a transaction", parameters: [{ name: "txHash", in: "path", required: true, schema: hash }], responses: { "200": ok("status"), ...common } },
    },
    "/api/payouts/{address}": {
      get: { summary: "Escrows paying a provider address, with when each becomes claimable", parameters: [{ name: "address", in: "path", required: true, schema: address }], responses: { "200": ok("payouts"), ...common } },
    },
    "/api/balance/{address}": {
      get: { summary: "ADA and NTX at an address", parameters: [{ name: "address", in: "path", required: true, schema: address }], responses: { "200": ok("balance"), ...common } },
    },
  },
} as const;
