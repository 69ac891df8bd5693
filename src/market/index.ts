// Public surface of the market area; other areas import from here only.
export { PROTOCOL_VERSION, MAX_MESSAGE_BYTES, RejectReason, REJECT_CODES } from "./protocol.js";
export { jobHash, canonicalJson } from "./job-hash.js";
export { blake2b256Hex } from "../crypto/sodium.js";
export {
  Offer,
  UnsignedOffer,
  Bid,
  UnsignedBid,
  JobSpec,
  JobResources,
  OfferResources,
  Prices,
  Match,
  ProviderConfirm,
  UnsignedProviderConfirm,
  JobEvent,
  UnsignedJobEvent,
  JobEventKind,
  DataSignature,
  ReservedResources,
  OfferTerms,
  BidEscrowTerms,
  KeyHash,
} from "./schemas.js";
export type { OfferInput, BidInput, MatchInput, Gpu } from "./schemas.js";
export { signOffer, signProviderConfirm, signJobEvent, providerIdOf, offerDigest, providerConfirmDigest, jobEventDigest, verifyProviderDigest, OFFER_TYPES, PROVIDER_CONFIRM_TYPES, JOB_EVENT_TYPES } from "./eip712.js";
export { signBid, bidSigningPayload, bidSigningPayloadHex, bidDigest } from "./bid-signing.js";
export { signData, verifyDataSignature, parseCoseSign1, parseCoseKey, ed25519PrivateKeyObject, ed25519RawPublicKey } from "./cose.js";
export { decodeBid, decodeOffer, decodeProviderConfirm, decodeJobEvent, encodeMessage, jsonOf } from "./decode.js";
export type { Decoded, VerifiedBid, VerifiedOffer } from "./decode.js";
export { jobPrice } from "./pricing.js";
export { OrderBook } from "./order-book.js";
export { createMatcher } from "./matcher.js";
export type { Matcher, MatcherParams, MatcherStats, MatchSummary } from "./matcher.js";
export { JobRecord, JobRecordState } from "./job-record.js";
export { readJobState, currentJobState, type JobState } from "./job-state.js";
export { CapacityRecord, countedUsage } from "./capacity.js";
export { createMarketMetrics } from "./metrics.js";
export type { MarketMetrics } from "./metrics.js";
export { createVerifyPool } from "./verify-pool.js";
export type { VerifyPool } from "./verify-pool.js";
export type { MarketTransport, MarketKv, InboundMessage, StoredMatch, Watch } from "./transport.js";
