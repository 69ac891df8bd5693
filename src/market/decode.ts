/**
 * Turns raw message bytes into verified market messages, or a rejection reason. Nothing here throws on bad
 * input: the matcher counts the reason and moves on. Checks go cheapest first (size, JSON, schema, expiry)
 * so a flood of junk never reaches the signature check.
 */
import { utf8ToBytes } from "@noble/hashes/utils";
import { isNtxError } from "../../offchain/errors.js";
import { bidSigningPayload } from "./bid-signing.js";
import { verifyDataSignature } from "./cose.js";
import { jobEventDigest, offerDigest, providerConfirmDigest, verifyProviderDigest } from "./eip712.js";
import { jobHashOfValidSpec } from "./job-hash.js";
import { MAX_BID_DEADLINE_MS, MAX_BID_EXPIRY_MS, MAX_MESSAGE_BYTES, MAX_OFFER_EXPIRY_MS, RejectReason } from "./protocol.js";
import { Bid, JobEvent, Offer, ProviderConfirm, type BidEscrowTerms, type JobEvent as JobEventT, type Offer as OfferT, type ProviderConfirm as ProviderConfirmT, type Bid as BidT } from "./schemas.js";

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; message: string };

export interface VerifiedBid {
  bid: BidT;
  jobHash: string;
}

/**
 * What the matcher needs of a verified bid: its terms, without what only the provider needs (command, env,
 * outputs) nor the signature. The matcher holds every bid until it is confirmed, so this is what it keeps.
 */
export interface BidTerms {
  spec: Pick<BidT["spec"], "resources" | "maxDurationMs">;
  maxPrice: bigint;
  deadline: number;
  expiresAt: number;
  nonce: string;
  /** The escrow terms the bid asks for; offers whose terms refuse them are not matched. */
  terms: BidEscrowTerms;
  buyer: { key: string };
  regions?: string[] | undefined;
  attributes?: Record<string, string> | undefined;
}

export interface VerifiedBidTerms {
  terms: BidTerms;
  jobHash: string;
}

export function bidTerms(bid: BidT): BidTerms {
  return {
    spec: { resources: bid.spec.resources, maxDurationMs: bid.spec.maxDurationMs },
    maxPrice: bid.maxPrice,
    deadline: bid.deadline,
    expiresAt: bid.expiresAt,
    nonce: bid.nonce,
    terms: bid.terms,
    buyer: { key: bid.buyer.key },
    regions: bid.regions,
    attributes: bid.attributes,
  };
}

/** decodeBid for the matcher: the same checks, only the terms kept. */
export function decodeBidTerms(bytes: Uint8Array | string, options: DecodeOptions): Decoded<VerifiedBidTerms> {
  const decoded = decodeBid(bytes, options);
  return decoded.ok ? { ok: true, value: { terms: bidTerms(decoded.value.bid), jobHash: decoded.value.jobHash } } : decoded;
}

/**
 * The last line of "no parser throws": whatever a check below might still throw on (a library's edge case),
 * the message is a malformed one with a reason, never an exception that could kill a verifier thread.
 */
function guarded<A extends unknown[], T>(kind: string, decode: (...args: A) => Decoded<T>): (...args: A) => Decoded<T> {
  return (...args) => {
    try {
      return decode(...args);
    } catch (error) {
      return reject(RejectReason.Malformed, `${kind}: ${error instanceof Error ? error.message.slice(0, 200) : "unreadable"}`);
    }
  };
}

export interface VerifiedOffer {
  offer: OfferT;
  /** EIP-712 digest, 0x hex: names this exact offer in a match. */
  digest: string;
}

function reject<T>(reason: RejectReason, message: string): Decoded<T> {
  return { ok: false, reason, message };
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Size and JSON: the part every message kind shares. */
function parseRaw(bytes: Uint8Array | string): Decoded<Record<string, unknown>> {
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.length;
  if (size > MAX_MESSAGE_BYTES) return reject(RejectReason.Oversized, `message is ${size} bytes, the limit is ${MAX_MESSAGE_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : textDecoder.decode(bytes));
  } catch {
    return reject(RejectReason.Malformed, "message is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return reject(RejectReason.Malformed, "message is not a JSON object");
  return { ok: true, value: value as Record<string, unknown> };
}

function isUnsigned(raw: Record<string, unknown>): boolean {
  const sig = raw.signature;
  if (sig === undefined || sig === null || sig === "") return true;
  if (typeof sig === "object" && !Array.isArray(sig)) {
    const s = sig as Record<string, unknown>;
    return !s.signature || !s.key;
  }
  return false;
}

export interface DecodeOptions {
  now: number;
}

export const decodeBid = guarded("decodeBid", function decodeBid(bytes: Uint8Array | string, options: DecodeOptions): Decoded<VerifiedBid> {
  const raw = parseRaw(bytes);
  if (!raw.ok) return raw;
  if (isUnsigned(raw.value)) return reject(RejectReason.Unsigned, "bid carries no signature");
  const parsed = Bid.safeParse(raw.value);
  if (!parsed.success) return reject(RejectReason.Malformed, `bid: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const bid = parsed.data;
  if (bid.expiresAt > bid.deadline) return reject(RejectReason.Malformed, "bid expires after its deadline");
  if (bid.expiresAt <= options.now) return reject(RejectReason.Expired, "bid has expired");
  if (bid.deadline > options.now + MAX_BID_DEADLINE_MS) return reject(RejectReason.OutOfBounds, `bid deadline is more than ${MAX_BID_DEADLINE_MS} ms ahead`);
  if (bid.expiresAt > options.now + MAX_BID_EXPIRY_MS) return reject(RejectReason.OutOfBounds, `bid expires more than ${MAX_BID_EXPIRY_MS} ms ahead`);
  const hash = jobHashOfValidSpec(bid.spec);
  try {
    verifyDataSignature(
      { signature: Buffer.from(bid.signature.signature, "hex"), key: Buffer.from(bid.signature.key, "hex") },
      // The raw object, not the parsed one: amounts must be hashed in their wire (string) form.
      bidSigningPayload(raw.value as never, hash),
      Buffer.from(bid.buyer.key, "hex"),
      bid.buyer.address ? Buffer.from(bid.buyer.address, "hex") : undefined,
    );
  } catch (error) {
    if (isNtxError(error)) return reject(RejectReason.BadSignature, error.message);
    return reject(RejectReason.BadSignature, "signature does not verify");
  }
  return { ok: true, value: { bid, jobHash: hash } };
});

export const decodeOffer = guarded("decodeOffer", function decodeOffer(bytes: Uint8Array | string, options: DecodeOptions): Decoded<VerifiedOffer> {
  const raw = parseRaw(bytes);
  if (!raw.ok) return raw;
  if (isUnsigned(raw.value)) return reject(RejectReason.Unsigned, "offer carries no signature");
  const parsed = Offer.safeParse(raw.value);
  if (!parsed.success) return reject(RejectReason.Malformed, `offer: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  const offer = parsed.data;
  if (offer.expiresAt <= options.now) return reject(RejectReason.Expired, "offer has expired");
  if (offer.expiresAt > options.now + MAX_OFFER_EXPIRY_MS) return reject(RejectReason.OutOfBounds, `offer expires more than ${MAX_OFFER_EXPIRY_MS} ms ahead`);
  const digest = offerDigest(offer);
  if (!verifyProviderDigest(digest, offer.signature, offer.providerId)) return reject(RejectReason.BadSignature, "offer signature is not the provider's");
  return { ok: true, value: { offer, digest } };
});

export const decodeProviderConfirm = guarded("decodeProviderConfirm", function decodeProviderConfirm(bytes: Uint8Array | string): Decoded<ProviderConfirmT> {
  const raw = parseRaw(bytes);
  if (!raw.ok) return raw;
  if (isUnsigned(raw.value)) return reject(RejectReason.Unsigned, "confirmation carries no signature");
  const parsed = ProviderConfirm.safeParse(raw.value);
  if (!parsed.success) return reject(RejectReason.Malformed, `confirmation: ${parsed.error.issues[0]?.message}`);
  if (!verifyProviderDigest(providerConfirmDigest(parsed.data), parsed.data.signature, parsed.data.providerId)) return reject(RejectReason.BadSignature, "confirmation signature is not the provider's");
  return { ok: true, value: parsed.data };
});

export const decodeJobEvent = guarded("decodeJobEvent", function decodeJobEvent(bytes: Uint8Array | string): Decoded<JobEventT> {
  const raw = parseRaw(bytes);
  if (!raw.ok) return raw;
  if (isUnsigned(raw.value)) return reject(RejectReason.Unsigned, "job event carries no signature");
  const parsed = JobEvent.safeParse(raw.value);
  if (!parsed.success) return reject(RejectReason.Malformed, `job event: ${parsed.error.issues[0]?.message}`);
  if (!verifyProviderDigest(jobEventDigest(parsed.data), parsed.data.signature, parsed.data.providerId)) return reject(RejectReason.BadSignature, "job event signature is not the provider's");
  return { ok: true, value: parsed.data };
});

/** Stored message bytes as JSON, or undefined when they are not JSON (the caller says what that means). */
export function jsonOf(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"));
  } catch {
    return undefined;
  }
}

/** JSON of a message whose amounts are bigint (the parsed form) as the wire wants them: decimal strings. */
export function encodeMessage(value: unknown): Uint8Array {
  return utf8ToBytes(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}
