// Public surface of the market area; other areas import from here only.
export { PROTOCOL_VERSION, MAX_MESSAGE_BYTES, RejectReason, REJECT_CODES } from "./protocol.js";
export { jobHash, canonicalJson, blake2b256Hex } from "./job-hash.js";
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
} from "./schemas.js";
export type { OfferInput, BidInput, MatchInput, Gpu } from "./schemas.js";
