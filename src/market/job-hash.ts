import canonicalizeModule from "canonicalize";
import { NtxError } from "../../offchain/errors.js";
import { blake2b256Hex } from "../crypto/sodium.js";
import { JobSpec, type JobSpec as JobSpecType } from "./schemas.js";

// The package is CommonJS whose module.exports is the function, while its typings declare an ES default export.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** RFC 8785 canonical JSON. bigint has no JSON form, so callers pass wire shapes (amounts as strings). */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (error) {
    // A bigint, a cycle, a throwing toJSON: canonicalize's TypeErrors become the one coded error.
    throw new NtxError("MARKET_MALFORMED", `value has no canonical JSON form: ${error instanceof Error ? error.message : "unreadable"}`);
  }
  if (text === undefined) throw new NtxError("MARKET_MALFORMED", "value has no canonical JSON form");
  return text;
}

/**
 * The job's identity everywhere (bid subject, match, escrow datum, completion proof): blake2b-256 of the RFC 8785
 * canonical JSON of the job spec, lowercase hex. The spec is validated first so that two encodings the schema
 * treats as one job (key order, whitespace) hash alike and an invalid spec never gets a hash.
 */
export function jobHash(spec: JobSpecType | unknown): string {
  const parsed = JobSpec.safeParse(spec);
  if (!parsed.success) throw new NtxError("MARKET_MALFORMED", `invalid job spec: ${parsed.error.issues[0]?.message ?? "?"}`, { details: { issues: parsed.error.issues } });
  return blake2b256Hex(canonicalJson(parsed.data));
}

/** jobHash of a spec that already passed the schema (the bid decoder's hot path). */
export function jobHashOfValidSpec(spec: JobSpecType): string {
  return blake2b256Hex(canonicalJson(spec));
}
