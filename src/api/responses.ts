/**
 * zod schemas of what the API answers. The OpenAPI document is generated from them (openapi.ts) and the API
 * tests validate every real answer against that document, so a change of shape shows up as a failing test.
 * Shapes owned by other parts (a stored offer, bid, job record or provider event) are open objects here: the
 * API passes them through without owning their fields.
 */
import { z } from "zod/v4";
import { HashHex } from "./schemas.js";

const Amount = z.string().regex(/^[0-9]{1,39}$/).describe("base units, decimal string");
const OutRef = z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/).describe("txHash#index");
const Bech32Address = z.string().min(1).describe("bech32 address");
const Millis = z.number().int().describe("POSIX ms");
const Passed = (description: string) => z.looseObject({}).describe(description);

export const ErrorResponse = z.object({
  error: z.object({
    code: z.string().regex(/^[A-Z][A-Z0-9_]*$/).describe("stable code (see the README's list)"),
    message: z.string(),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

const Problem = z.object({ code: z.string(), message: z.string() });
export const HealthResponse = z.object({
  ok: z.boolean(),
  chain: z.union([z.object({ ok: z.literal(true), height: z.number().int(), time: Millis }), z.object({ ok: z.literal(false), error: Problem })]),
  nats: z.union([z.object({ ok: z.literal(true), rttMs: z.number() }), z.object({ ok: z.literal(false), error: Problem })]),
});

export const ConfigResponse = z.object({
  network: z.enum(["devnet", "preview", "preprod", "mainnet"]),
  devnet: z.boolean(),
  protocolVersion: z.number().int(),
  ntx: z.object({ policyId: z.string().regex(/^[0-9a-f]{56}$/), assetName: z.string().regex(/^([0-9a-f]{2}){0,32}$/), unit: z.string() }),
  escrow: z.object({ scriptHash: z.string().regex(/^[0-9a-f]{56}$/), address: Bech32Address, referenceScript: OutRef.nullable(), challengeWindowMs: z.number().int() }),
});

export const OpenApiResponse = z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) });

export const OffersResponse = z.object({
  offers: z.array(z.looseObject({ providerId: z.string(), digest: z.string().regex(/^0x[0-9a-f]{64}$/) }).describe("a verified market Offer (amounts as decimal strings) and its EIP-712 digest")),
  count: z.number().int().nonnegative(),
});

export const PrepareBidResponse = z.object({ jobHash: HashHex, payload: z.string().regex(/^([0-9a-f]{2})*$/), text: z.string() });
export const BidPostedResponse = z.object({ jobHash: HashHex, seq: z.number().int().positive(), duplicate: z.boolean() });

export const EscrowView = z.object({
  outRef: OutRef,
  jobHash: HashHex,
  amount: Amount,
  ntxHeld: Amount,
  funded: z.boolean(),
  payout: Bech32Address,
  deadline: Millis,
  challengeWindow: z.number().int(),
  state: z.enum(["locked", "completed", "disputed"]),
  resultHash: HashHex.optional(),
  completedAt: Millis.optional(),
  claimableAt: Millis.optional(),
});

export const JobResponse = z.object({
  jobHash: HashHex,
  state: z.string(),
  record: Passed("the market's job record").nullable(),
  bid: z.object({ seq: z.number().int(), storedAt: Millis, bid: z.unknown() }).nullable(),
  match: z.object({ matchId: z.string(), providerId: z.string(), payoutAddress: Bech32Address, region: z.string(), price: Amount, matchedAt: Millis, confirmBy: Millis }).nullable(),
  escrows: z.array(EscrowView).nullable().describe("null while the chain is unreachable (see chain.error)"),
  chain: z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), error: ErrorResponse.shape.error })]),
  events: z.array(z.unknown()),
  resultHash: HashHex.nullable(),
});

const UnsignedTx = {
  tx: z.string().regex(/^([0-9a-f]{2})+$/).describe("unsigned tx CBOR hex, for CIP-30 signTx(tx, true)"),
  txHash: HashHex,
  fee: Amount,
};

export const LockResponse = z.object({
  ...UnsignedTx,
  escrow: z.object({
    payout: Bech32Address,
    proofKey: z.string(),
    jobHash: HashHex,
    amount: Amount,
    deadline: Millis,
    challengeWindow: z.number().int(),
    arbiter: z.string().regex(/^[0-9a-f]{56}$/).optional().describe("the bid's arbiter key hash, when it names one"),
    address: Bech32Address,
    outputIndex: z.number().int().nonnegative(),
    unit: z.string(),
  }),
  ignoredUtxos: z.number().int().nonnegative().describe("wallet UTxOs the chain does not know unspent"),
});

export const ClaimResponse = z.object({ ...UnsignedTx, escrows: z.array(OutRef), amount: Amount });
export const SubmitResponse = z.object({ txHash: HashHex });

export const TxStatusResponse = z.union([
  z.object({ hash: HashHex, state: z.literal("unknown"), confirmations: z.literal(0) }),
  z.object({ hash: HashHex, state: z.literal("confirmed"), blockHeight: z.number().int(), blockHash: HashHex, blockTime: Millis, slot: z.number().int(), fee: Amount, confirmations: z.number().int().positive() }),
]);

export const PayoutsResponse = z.object({ address: Bech32Address, now: Millis, escrows: z.array(EscrowView.extend({ claimable: z.boolean() })) });
export const BalanceResponse = z.object({ address: Bech32Address, lovelace: Amount, ntx: Amount });

/** The buyer's side (src/api/routes/buyer.ts). */
export const BuyerConfigResponse = z.object({ ntxDecimals: z.number().int().nonnegative(), challengeWindowMs: Millis, feeAllowance: Amount, lockLovelace: Amount });
export const FundsResponse = z.object({ ok: z.literal(true), ntx: Amount, lovelace: Amount, needNtx: Amount, needLovelace: Amount, lockLovelace: Amount, changeLovelace: Amount });
export const WalletJobsResponse = z.object({ address: Bech32Address, escrows: z.array(EscrowView) });
export const SettleResponse = z.object({ ...UnsignedTx, escrow: z.object({ outRef: OutRef, amount: Amount, lovelace: Amount }) });
