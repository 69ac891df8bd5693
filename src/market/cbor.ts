/**
 * The CBOR subset COSE_Sign1 / COSE_Key need (RFC 8949): unsigned and negative ints, byte and text strings,
 * arrays, maps, false/true/null. Definite lengths only, as CIP-8 wallets emit. Decoding is strict (trailing
 * bytes, indefinite lengths, floats and tags are refused) because a lenient decoder would let two encodings
 * of one message verify differently from the wallet's own code.
 */
import { NtxError } from "../../offchain/errors.js";

export type CborValue = number | bigint | Uint8Array | string | boolean | null | CborValue[] | CborMap;
export type CborMap = Map<number | string, CborValue>;

const MAX_DEPTH = 16;
const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

function malformed(message: string): NtxError {
  return new NtxError("MARKET_MALFORMED", `CBOR: ${message}`);
}

export function decodeCbor(bytes: Uint8Array): CborValue {
  let pos = 0;
  const readLength = (info: number): number => {
    if (info < 24) return info;
    let n: number;
    if (info === 24) n = 1;
    else if (info === 25) n = 2;
    else if (info === 26) n = 4;
    else if (info === 27) n = 8;
    else throw malformed("indefinite length or reserved additional info");
    if (pos + n > bytes.length) throw malformed("truncated length");
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 256 + bytes[pos + i]!;
    pos += n;
    if (!Number.isSafeInteger(value)) throw malformed("length exceeds safe integer");
    return value;
  };
  const item = (depth: number): CborValue => {
    if (depth > MAX_DEPTH) throw malformed("nested too deep");
    if (pos >= bytes.length) throw malformed("truncated");
    const head = bytes[pos++]!;
    const major = head >> 5;
    const info = head & 0x1f;
    switch (major) {
      case 0:
        return readLength(info);
      case 1:
        return -1 - readLength(info);
      case 2:
      case 3: {
        const n = readLength(info);
        if (pos + n > bytes.length) throw malformed("truncated string");
        const slice = bytes.subarray(pos, pos + n);
        pos += n;
        if (major === 2) return slice;
        try {
          return textDecoder.decode(slice);
        } catch {
          throw malformed("invalid UTF-8 text");
        }
      }
      case 4: {
        const n = readLength(info);
        if (n > bytes.length - pos) throw malformed("array longer than input");
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(item(depth + 1));
        return out;
      }
      case 5: {
        const n = readLength(info);
        if (n * 2 > bytes.length - pos) throw malformed("map longer than input");
        const out: CborMap = new Map();
        for (let i = 0; i < n; i++) {
          const key = item(depth + 1);
          if (typeof key !== "number" && typeof key !== "string") throw malformed("map key is not an int or text");
          if (out.has(key)) throw malformed("duplicate map key");
          out.set(key, item(depth + 1));
        }
        return out;
      }
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw malformed("unsupported simple value or float");
      default:
        throw malformed("tags are not supported");
    }
  };
  const value = item(0);
  if (pos !== bytes.length) throw malformed("trailing bytes");
  return value;
}

function head(major: number, n: number): number[] {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
  if (n < 0x100000000) return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  throw new NtxError("MARKET_MALFORMED", "CBOR: length too large");
}

/** Encodes the same subset; map entries keep insertion order (COSE headers are small and built in order). */
export function encodeCbor(value: CborValue): Uint8Array {
  const parts: Uint8Array[] = [];
  const push = (bytes: number[] | Uint8Array) => parts.push(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  const walk = (v: CborValue): void => {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) throw new NtxError("MARKET_MALFORMED", "CBOR: only integers are encoded");
      if (v >= 0) push(head(0, v));
      else push(head(1, -1 - v));
    } else if (typeof v === "bigint") {
      walk(Number(v));
    } else if (v instanceof Uint8Array) {
      push(head(2, v.length));
      push(v);
    } else if (typeof v === "string") {
      const b = textEncoder.encode(v);
      push(head(3, b.length));
      push(b);
    } else if (typeof v === "boolean") {
      push([v ? 0xf5 : 0xf4]);
    } else if (v === null) {
      push([0xf6]);
    } else if (Array.isArray(v)) {
      push(head(4, v.length));
      for (const x of v) walk(x);
    } else {
      push(head(5, v.size));
      for (const [k, x] of v) {
        walk(k);
        walk(x);
      }
    }
  };
  walk(value);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
