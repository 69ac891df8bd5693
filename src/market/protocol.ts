/** The market protocol version carried by every message (`v`); a message with another version is malformed. */
export const PROTOCOL_VERSION = 1 as const;

/**
 * Largest market message accepted, checked on the raw bytes before any parsing, so a flood of huge payloads
 * costs a length comparison and nothing else. A bid with a generous env and command list stays far below it.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** Rejection reasons, also the `reason` label of the rejection counter. */
export const RejectReason = {
  Malformed: "malformed",
  Unsigned: "unsigned",
  BadSignature: "bad_signature",
  Expired: "expired",
  Replayed: "replayed",
  Oversized: "oversized",
  /** A time further ahead than the market allows (bid deadline/expiry, offer expiry). */
  OutOfBounds: "out_of_bounds",
  /** The message made a verifier thread die twice (alone the second time): dropped, never retried. */
  VerifierCrash: "verifier_crash",
  /** Handling it kept failing for a reason of ours (store unreachable); given up after a bounded number of deliveries. */
  Unhandled: "unhandled",
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** The NtxError code of each rejection reason. */
export const REJECT_CODES: Record<RejectReason, string> = {
  malformed: "MARKET_MALFORMED",
  unsigned: "MARKET_UNSIGNED",
  bad_signature: "MARKET_BAD_SIGNATURE",
  expired: "MARKET_EXPIRED",
  replayed: "MARKET_REPLAYED",
  oversized: "MARKET_OVERSIZED",
  out_of_bounds: "MARKET_OUT_OF_BOUNDS",
  verifier_crash: "MARKET_VERIFIER_CRASH",
  unhandled: "MARKET_UNHANDLED",
};

/**
 * Horizons: how far ahead a message's times may lie. A bid may ask for its job to be done within 30 days and
 * wait at most a day to be matched; an offer (a heartbeat, normally a minute) lives at most a day. Without them
 * a signed bid could sit in the market, and hold a provider, for ever.
 */
export const MAX_BID_DEADLINE_MS = 30 * 24 * 3_600_000;
export const MAX_BID_EXPIRY_MS = 24 * 3_600_000;
export const MAX_OFFER_EXPIRY_MS = 24 * 3_600_000;
