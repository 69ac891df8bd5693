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
};
