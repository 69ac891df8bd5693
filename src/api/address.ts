/**
 * Cardano addresses as wallets hand them over: CIP-30 gives raw bytes as hex, people and Lucid use bech32.
 * Requests may carry either; the API works with bech32 and refuses anything that is not a payment address of
 * the network it serves (a mainnet address on a devnet would build a transaction nobody can use).
 */
import { NtxError } from "../../offchain/errors.js";

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATORS[i]!;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (const c of hrp) out.push(c.charCodeAt(0) >> 5);
  out.push(0);
  for (const c of hrp) out.push(c.charCodeAt(0) & 31);
  return out;
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || ((acc << (to - bits)) & max) !== 0) return null;
  return out;
}

export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const words = convertBits(bytes, 8, 5, true)!;
  const mod = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = Array.from({ length: 6 }, (_, i) => (mod >> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join("")}`;
}

export function bech32Decode(text: string): { hrp: string; bytes: Uint8Array } | null {
  if (text !== text.toLowerCase() || text.length > 1023) return null;
  const sep = text.lastIndexOf("1");
  if (sep < 1 || sep + 7 > text.length) return null;
  const hrp = text.slice(0, sep);
  const words: number[] = [];
  for (const c of text.slice(sep + 1)) {
    const w = CHARSET.indexOf(c);
    if (w < 0) return null;
    words.push(w);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) return null;
  const bytes = convertBits(words.slice(0, -6), 5, 8, false);
  return bytes ? { hrp, bytes: Uint8Array.from(bytes) } : null;
}

/** Header types 0-7 are Shelley payment addresses (base, pointer, enterprise); stake and Byron are not payable here. */
function checkPaymentAddress(bytes: Uint8Array, mainnet: boolean, input: string): void {
  const header = bytes[0];
  if (header === undefined || bytes.length < 29) throw new NtxError("INVALID_ADDRESS", `"${input}" is too short to be a Cardano address`);
  const type = header >> 4;
  const networkId = header & 0x0f;
  if (type > 7) throw new NtxError("INVALID_ADDRESS", `"${input}" is not a Shelley payment address (header type ${type})`);
  if ((networkId === 1) !== mainnet) {
    throw new NtxError("INVALID_ADDRESS", `address is for ${networkId === 1 ? "mainnet" : "a test network"}, this market runs on ${mainnet ? "mainnet" : "a test network"}: switch the wallet's network`);
  }
}

/** bech32 of a bech32 or CIP-30 hex address; throws INVALID_ADDRESS with what is wrong. */
export function normalizeAddress(input: string, mainnet: boolean): string {
  if (/^([0-9a-fA-F]{2}){29,57}$/.test(input)) {
    const bytes = Uint8Array.from(Buffer.from(input, "hex"));
    checkPaymentAddress(bytes, mainnet, input);
    return bech32Encode(mainnet ? "addr" : "addr_test", bytes);
  }
  const decoded = bech32Decode(input);
  if (!decoded || (decoded.hrp !== "addr" && decoded.hrp !== "addr_test")) {
    throw new NtxError("INVALID_ADDRESS", `"${input.slice(0, 120)}" is not a Cardano payment address (bech32 addr… or CIP-30 hex)`);
  }
  checkPaymentAddress(decoded.bytes, mainnet, input);
  if ((decoded.hrp === "addr") !== mainnet) throw new NtxError("INVALID_ADDRESS", `address prefix ${decoded.hrp} does not match its network id`);
  return input;
}
