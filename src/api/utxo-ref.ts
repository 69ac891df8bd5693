/**
 * The out-ref of a CIP-30 `getUtxos()` entry (CBOR `TransactionUnspentOutput = [input, output]`). Only the
 * input is read: the API takes the output itself (value, datum, script) from the chain, so a wallet cannot make
 * the builder believe in funds it does not have, and no full Cardano CBOR codec is needed outside offchain/.
 */
import { NtxError } from "../../offchain/errors.js";

export interface OutRef {
  txHash: string;
  outputIndex: number;
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** Major type and argument; `indefinite` for arrays of unknown length (0x9f). */
  head(): { major: number; value: number; indefinite: boolean } {
    const b = this.bytes[this.pos++];
    if (b === undefined) throw new Error("truncated");
    const major = b >> 5;
    const info = b & 0x1f;
    if (info < 24) return { major, value: info, indefinite: false };
    if (info === 31) return { major, value: 0, indefinite: true };
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0) throw new Error("reserved additional info");
    let value = 0;
    for (let i = 0; i < size; i++) {
      const next = this.bytes[this.pos++];
      if (next === undefined) throw new Error("truncated");
      value = value * 256 + next;
    }
    return { major, value, indefinite: false };
  }
}

export function outRefOfUtxoCbor(hex: string): OutRef {
  const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
  const r = new Reader(bytes);
  try {
    const outer = r.head();
    if (outer.major !== 4 || (!outer.indefinite && outer.value !== 2)) throw new Error("not a 2-element array");
    const input = r.head();
    if (input.major !== 4 || (!input.indefinite && input.value !== 2)) throw new Error("input is not a 2-element array");
    const hash = r.head();
    if (hash.major !== 2 || hash.value !== 32) throw new Error("input tx hash is not 32 bytes");
    const txHash = Buffer.from(bytes.subarray(r.pos, r.pos + 32)).toString("hex");
    if (txHash.length !== 64) throw new Error("truncated");
    r.pos += 32;
    const index = r.head();
    if (index.major !== 0 || index.value > 0xffff) throw new Error("input index is not a small unsigned integer");
    return { txHash, outputIndex: index.value };
  } catch (error) {
    throw new NtxError("INVALID_UTXO", `wallet UTxO ${hex.slice(0, 24)}… is not a CIP-30 TransactionUnspentOutput: ${(error as Error).message}`);
  }
}
