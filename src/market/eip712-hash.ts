/**
 * EIP-712 digests of provider messages without ethers' generic encoder, which took ~210 µs for a confirmation
 * (and more for an offer) against a few µs here: the matcher digests every offer of the book at start-up and
 * every confirmation. Type strings and type hashes are built once per type table; signing still goes through
 * ethers, and test/market/eip712-hash.test.ts holds the two to the same digest for random messages.
 *
 * Covers the EIP-712 types the tables here use: uintN/intN, bool, bytesN, bytes, string, structs and arrays of
 * any of them.
 */
import { keccak_256 } from "@noble/hashes/sha3";
import { TypedDataEncoder, type TypedDataField } from "ethers";
import { NTX_EIP712_DOMAIN } from "../../offchain/eip712-domain.js";
import { NtxError } from "../../offchain/errors.js";

type Types = Record<string, TypedDataField[]>;

export interface TypedDataHasher {
  /** keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)) of the NTX domain, 32 bytes. */
  digest(message: Record<string, unknown>): Uint8Array;
}

const DOMAIN_SEPARATOR = Buffer.from(TypedDataEncoder.hashDomain(NTX_EIP712_DOMAIN).slice(2), "hex");
const PREFIX = Uint8Array.of(0x19, 0x01);
const utf8 = new TextEncoder();

function bad(message: string): NtxError {
  return new NtxError("MARKET_MALFORMED", `EIP-712: ${message}`);
}

/** `Name(type field,...)` followed by every struct it references, sorted by name (EIP-712 encodeType). */
function encodeType(types: Types, primary: string): string {
  const found = new Set<string>();
  const visit = (name: string) => {
    if (found.has(name) || !types[name]) return;
    found.add(name);
    for (const f of types[name]!) visit(f.type.replace(/\[\d*\]$/, ""));
  };
  visit(primary);
  const line = (name: string) => `${name}(${types[name]!.map((f) => `${f.type} ${f.name}`).join(",")})`;
  return [primary, ...[...found].filter((n) => n !== primary).sort()].map(line).join("");
}

function toBigInt(value: unknown, type: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^(0x[0-9a-fA-F]+|-?[0-9]+)$/.test(value)) return BigInt(value);
  throw bad(`${type} value ${String(value)} is not an integer`);
}

function word(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = BigInt.asUintN(256, n);
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function hexBytes(value: unknown, type: string): Uint8Array {
  if (typeof value !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(value)) throw bad(`${type} value is not 0x hex`);
  return Buffer.from(value.slice(2), "hex");
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export function typedDataHasher(types: Types, primary: string): TypedDataHasher {
  if (!types[primary]) throw bad(`no type ${primary}`);
  const typeHashes = new Map<string, Uint8Array>();
  for (const name of Object.keys(types)) typeHashes.set(name, keccak_256(utf8.encode(encodeType(types, name))));

  const encodeValue = (type: string, value: unknown): Uint8Array => {
    const array = /^(.*)\[(\d*)\]$/.exec(type);
    if (array) {
      if (!Array.isArray(value)) throw bad(`${type} value is not an array`);
      if (array[2] && value.length !== Number(array[2])) throw bad(`${type} value has ${value.length} elements`);
      return keccak_256(concat(value.map((v) => encodeValue(array[1]!, v))));
    }
    if (types[type]) return hashStruct(type, value);
    if (type === "string") {
      if (typeof value !== "string") throw bad("string value is not a string");
      return keccak_256(utf8.encode(value));
    }
    if (type === "bytes") return keccak_256(hexBytes(value, type));
    if (type === "bool") return word(value === true ? 1n : 0n);
    const sized = /^(u?int|bytes)(\d+)$/.exec(type);
    if (!sized) throw bad(`type ${type} is not supported`);
    const bits = Number(sized[2]);
    if (sized[1] === "bytes") {
      const bytes = hexBytes(value, type);
      if (bytes.length !== bits) throw bad(`${type} value has ${bytes.length} bytes`);
      const out = new Uint8Array(32);
      out.set(bytes);
      return out;
    }
    const n = toBigInt(value, type);
    const signed = sized[1] === "int";
    const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (n < min || n > max) throw bad(`${type} value ${n} is out of range`);
    return word(n);
  };

  const hashStruct = (name: string, value: unknown): Uint8Array => {
    if (typeof value !== "object" || value === null) throw bad(`${name} value is not an object`);
    const record = value as Record<string, unknown>;
    const parts = [typeHashes.get(name)!];
    for (const field of types[name]!) parts.push(encodeValue(field.type, record[field.name]));
    return keccak_256(concat(parts));
  };

  return { digest: (message) => keccak_256(concat([PREFIX, DOMAIN_SEPARATOR, hashStruct(primary, message)])) };
}
