import type { LucidEvolution, OutRef, UTxO } from "@lucid-evolution/lucid";
import { decodeEscrowDatum, type EscrowDatum } from "./datum.js";
import { NtxError, isNtxError } from "./errors.js";
import { ntxUnit } from "./ntx.js";
import { escrowRef } from "./proof.js";
import { RecentMap } from "./recent-map.js";
import type { EscrowScript } from "./script.js";

/** An escrow UTxO with its datum decoded and checked. */
export interface EscrowUtxo {
  utxo: UTxO;
  datum: EscrowDatum;
  /** The reference a completion proof for this escrow signs (see proof.ts). */
  escrowRef: string;
  /** NTX (the configured asset only) the UTxO holds. */
  ntxHeld: bigint;
  /** Whether it holds at least the datum's amount: a provider starts a job only on a funded escrow. */
  funded: boolean;
}

export interface EscrowScan {
  escrows: EscrowUtxo[];
  /** UTxOs at the script address that are not escrows (no/garbled datum, wrong sizes): never spendable as escrows. */
  skipped: Array<{ outRef: OutRef; reason: string }>;
}

/**
 * Decoded datums and escrow references by out-ref, most recently used last. Every reader of the script address
 * (each provider's poll, the API, the buyers) read and decoded every escrow on it each time: with hundreds of open
 * escrows the decoding (CBOR through the WASM library, the address's bech32, the schema, the blake2b of the
 * out-ref) cost far more than the read. An entry is used only for the same datum text on the same network, so a
 * hit returns exactly what decoding would (the datum frozen, as it is shared); garbled datums are kept too (their
 * error), or a UTxO of junk sent to the address would be decoded again on every read.
 */
const DECODED_CAP = 20_000;
type Decoded = { datumText: string; network: string; datum: EscrowDatum; escrowRef: string } | { datumText: string; network: string; error: NtxError };
const decoded = new RecentMap<string, Decoded>(DECODED_CAP);

function decodeCached(utxo: UTxO, datumText: string, network: EscrowScript["network"]): { datum: EscrowDatum; escrowRef: string } {
  const key = `${utxo.txHash}#${utxo.outputIndex}`;
  let entry = decoded.get(key);
  if (!entry || entry.datumText !== datumText || entry.network !== network) {
    try {
      const datum = decodeEscrowDatum(datumText, network);
      Object.freeze(datum.state);
      entry = { datumText, network, datum: Object.freeze(datum), escrowRef: escrowRef(utxo) };
    } catch (error) {
      if (!isNtxError(error)) throw error;
      entry = { datumText, network, error };
    }
    decoded.set(key, entry);
  }
  if ("error" in entry) throw entry.error;
  return entry;
}

/** Decodes one UTxO as an escrow of `script`; throws NtxError (NOT_AN_ESCROW / INVALID_DATUM) otherwise. */
export function decodeEscrowUtxo(utxo: UTxO, script: EscrowScript): EscrowUtxo {
  if (utxo.address !== script.address) {
    throw new NtxError("NOT_AN_ESCROW", `UTxO ${utxo.txHash}#${utxo.outputIndex} is not at the escrow address`);
  }
  if (!utxo.datum || utxo.datumHash) {
    throw new NtxError("NOT_AN_ESCROW", `UTxO ${utxo.txHash}#${utxo.outputIndex} has no inline datum`);
  }
  const { datum, escrowRef } = decodeCached(utxo, utxo.datum, script.network);
  const ntxHeld = utxo.assets[ntxUnit(script.ntx)] ?? 0n;
  return { utxo, datum, escrowRef, ntxHeld, funded: ntxHeld >= datum.amount };
}

/** All escrows at the script address; what cannot be decoded is reported in `skipped`, never thrown. */
export async function readEscrowUtxos(lucid: LucidEvolution, script: EscrowScript): Promise<EscrowScan> {
  let utxos: UTxO[];
  try {
    utxos = await lucid.utxosAt(script.address);
  } catch (cause) {
    throw new NtxError("CHAIN_UNAVAILABLE", `cannot read UTxOs at ${script.address}`, { retryable: true, cause });
  }
  const scan: EscrowScan = { escrows: [], skipped: [] };
  for (const utxo of utxos) {
    try {
      scan.escrows.push(decodeEscrowUtxo(utxo, script));
    } catch (error) {
      if (!isNtxError(error)) throw error;
      scan.skipped.push({ outRef: { txHash: utxo.txHash, outputIndex: utxo.outputIndex }, reason: error.message });
    }
  }
  return scan;
}

/** The unspent output at `outRef`; `notFound` names the error when it is spent or was never there. */
export async function readOneUtxo(lucid: LucidEvolution, outRef: OutRef, notFound: { code: string; what: string }): Promise<UTxO> {
  let utxos: UTxO[];
  try {
    utxos = await lucid.utxosByOutRef([outRef]);
  } catch (cause) {
    throw new NtxError("CHAIN_UNAVAILABLE", `cannot read ${outRef.txHash}#${outRef.outputIndex}`, { retryable: true, cause });
  }
  const utxo = utxos[0];
  if (!utxo) throw new NtxError(notFound.code, `${notFound.what} ${outRef.txHash}#${outRef.outputIndex} not found (spent or unknown)`);
  return utxo;
}

/** One escrow by out-ref; ESCROW_NOT_FOUND when it is spent or was never there. */
export async function getEscrowUtxo(lucid: LucidEvolution, script: EscrowScript, outRef: OutRef): Promise<EscrowUtxo> {
  return decodeEscrowUtxo(await readOneUtxo(lucid, outRef, { code: "ESCROW_NOT_FOUND", what: "escrow" }), script);
}
