import canonicalizeModule from "canonicalize";
import { NtxError } from "../../offchain/errors.js";
import { blake2b256Hex } from "../crypto/sodium.js";
import { JobSpec, type JobSpec as JobSpecType } from "./schemas.js";

// The package is CommonJS whose module.exports is the function, while its typings declare an ES default export.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** Returned by plainCanonical for anything JSON.parse cannot make: the library then serializes the whole value. */
const NOT_PLAIN = Symbol("not plain JSON data");

/**
 * RFC 8785 of plain JSON data (what JSON.parse and the schemas return: plain objects, dense arrays, strings,
 * finite numbers, booleans, null; undefined object values skipped, as the library skips them), with exactly
 * the library's output, and about twice its speed: every bid is hashed twice on the verifier threads. Anything
 * else (a toJSON, a class instance, an array hole, a bigint, NaN) is left to the library, quirks and errors
 * included; the property test holds the two equal.
 */
function plainCanonical(value: unknown): string | typeof NOT_PLAIN {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : NOT_PLAIN;
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype || typeof (value as { toJSON?: unknown }).toJSON === "function") return NOT_PLAIN;
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return NOT_PLAIN;
          const item: unknown = value[i];
          const text = item === undefined ? "null" : plainCanonical(item);
          if (text === NOT_PLAIN) return NOT_PLAIN;
          out += i === 0 ? text : `,${text}`;
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const record = value as Record<string, unknown>;
      if (typeof record.toJSON === "function") return NOT_PLAIN;
      const keys = Object.keys(record).sort();
      let out = "{";
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) continue;
        const text = plainCanonical(item);
        if (text === NOT_PLAIN) return NOT_PLAIN;
        out += out.length === 1 ? `${JSON.stringify(key)}:${text}` : `,${JSON.stringify(key)}:${text}`;
      }
      return `${out}}`;
    }
    default:
      return NOT_PLAIN;
  }
}

/** RFC 8785 canonical JSON. bigint has no JSON form, so callers pass wire shapes (amounts as strings). */
export function canonicalJson(value: unknown): string {
  let plain: string | typeof NOT_PLAIN = NOT_PLAIN;
  try {
    plain = plainCanonical(value);
  } catch {
    // A throwing getter, a nesting too deep: the library meets it again below and says so with the one code.
  }
  if (plain !== NOT_PLAIN) return plain;
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
