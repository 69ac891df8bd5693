/**
 * Just enough CBOR for what CIP-30 hands the page: `getBalance()` (a Value) and the COSE_Key of `signData`.
 * Byte-string map keys become hex strings so they can be looked up.
 */
export type Cbor = number | bigint | string | Uint8Array | Cbor[] | Map<string | number, Cbor> | boolean | null | undefined;

export const hexToBytes = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
export const bytesToHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function decodeCbor(input: Uint8Array | string): Cbor {
  const bytes = typeof input === "string" ? hexToBytes(input) : input;
  let pos = 0;
  const byte = () => {
    const b = bytes[pos++];
    if (b === undefined) throw new Error("CBOR ends early");
    return b;
  };
  const arg = (info: number): number | bigint => {
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (!size) throw new Error(`unsupported CBOR length ${info}`);
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(byte());
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const item = (): Cbor => {
    const b = byte();
    const major = b >> 5;
    const info = b & 31;
    if (info === 31 && (major === 2 || major === 3 || major === 4 || major === 5)) {
      const parts: Cbor[] = [];
      while (bytes[pos] !== 0xff) parts.push(item());
      pos++;
      if (major === 4) return parts;
      if (major === 5) {
        const m = new Map<string | number, Cbor>();
        for (let i = 0; i < parts.length; i += 2) m.set(key(parts[i]), parts[i + 1]);
        return m;
      }
      if (major === 2) return Uint8Array.from(parts.flatMap((p) => Array.from(p as Uint8Array)));
      return parts.join("");
    }
    const n = major === 7 ? info : arg(info);
    switch (major) {
      case 0:
        return n;
      case 1:
        return typeof n === "bigint" ? -1n - n : -1 - n;
      case 2: {
        const out = bytes.slice(pos, pos + Number(n));
        pos += Number(n);
        return out;
      }
      case 3: {
        const out = new TextDecoder().decode(bytes.slice(pos, pos + Number(n)));
        pos += Number(n);
        return out;
      }
      case 4:
        return Array.from({ length: Number(n) }, () => item());
      case 5: {
        const m = new Map<string | number, Cbor>();
        for (let i = 0; i < Number(n); i++) {
          const k = key(item());
          m.set(k, item());
        }
        return m;
      }
      case 6:
        return item();
      default:
        return info === 20 ? false : info === 21 ? true : null;
    }
  };
  return item();
}

function key(k: Cbor): string | number {
  if (k instanceof Uint8Array) return bytesToHex(k);
  if (typeof k === "number" || typeof k === "string") return k;
  return String(k);
}

/** Lovelace and one asset's quantity from a CIP-30 `getBalance()` Value. */
export function balanceOf(valueHex: string, policyId: string, assetName: string): { lovelace: bigint; asset: bigint } {
  const v = decodeCbor(valueHex);
  if (typeof v === "number" || typeof v === "bigint") return { lovelace: BigInt(v), asset: 0n };
  if (!Array.isArray(v)) throw new Error("balance is not a CBOR Value");
  const lovelace = BigInt(v[0] as number | bigint);
  const assets = v[1] instanceof Map ? (v[1].get(policyId) as Map<string, Cbor> | undefined) : undefined;
  const q = assets?.get(assetName);
  return { lovelace, asset: q === undefined ? 0n : BigInt(q as number | bigint) };
}

/** The raw Ed25519 key (hex) of a COSE_Key (map key -2). */
export function coseKeyX(keyHex: string): string {
  const m = decodeCbor(keyHex);
  const x = m instanceof Map ? m.get(-2) : undefined;
  if (!(x instanceof Uint8Array) || x.length !== 32) throw new Error("the wallet's COSE_Key holds no Ed25519 key");
  return bytesToHex(x);
}
