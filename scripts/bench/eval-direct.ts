/*
 * A built transaction and the UTxOs it reads, evaluated directly by Lucid's evaluator (`eval_phase_two_raw`, the
 * call Lucid's complete() makes for local evaluation), timed in CPU time of this process: for
 * scripts/bench/eval-scaling.ts and the dump mode of scripts/bench/escrow.ts.
 */
import { readFileSync } from "node:fs";
import { CML, validatorToAddress, validatorToScriptHash } from "@lucid-evolution/lucid";
import type { Script, UTxO } from "@lucid-evolution/lucid";
import { MAINNET_PROTOCOL_PARAMETERS } from "../../offchain/emulator.js";
import { evaluateOnThisThread, evaluateRedeemers } from "../../offchain/devnet/tx-checks.js";

export interface Dump {
  cbor: string;
  utxos: UTxO[];
  escrowAddress: string;
  escrowHash: string;
  slotConfig: { zeroTime: number; zeroSlot: number; slotLength: number };
}

const revive = (_k: string, v: unknown) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v);

export function load(file: string): Dump {
  return JSON.parse(readFileSync(file, "utf8"), revive) as Dump;
}

/** The transaction with only the redeemers `keep` accepts (tag 0 spend, 3 reward). */
export function withRedeemers(cbor: string, keep: (tag: number) => boolean): Uint8Array {
  const tx = CML.Transaction.from_cbor_hex(cbor);
  const ws = tx.witness_set();
  const legacy = ws.redeemers()!.as_arr_legacy_redeemer()!;
  const kept = CML.LegacyRedeemerList.new();
  for (let i = 0; i < legacy.len(); i++) if (keep(legacy.get(i).tag())) kept.add(legacy.get(i));
  ws.set_redeemers(CML.Redeemers.new_arr_legacy_redeemer(kept));
  return CML.Transaction.new(tx.body(), ws, true, tx.auxiliary_data()).to_cbor_bytes();
}

/** The UTxOs with the escrow script replaced by `script` (its address on the escrow inputs, its bytes in the reference). */
export function swapScript(d: Dump, script: Script): UTxO[] {
  const address = validatorToAddress("Custom", script);
  return d.utxos.map((u) => {
    if (u.address === d.escrowAddress) return { ...u, address };
    if (u.scriptRef && validatorToScriptHash(u.scriptRef) === d.escrowHash) return { ...u, scriptRef: script };
    return u;
  });
}

export async function evaluate(d: Dump, tx: Uint8Array, utxos: UTxO[]): Promise<{ ms: number; redeemers: number }> {
  const parsed = CML.Transaction.from_cbor_bytes(tx);
  const t0 = process.cpuUsage();
  const r = await evaluateRedeemers(parsed, utxos, MAINNET_PROTOCOL_PARAMETERS, d.slotConfig, evaluateOnThisThread);
  const used = process.cpuUsage(t0);
  return { ms: (used.user + used.system) / 1000, redeemers: r.length };
}

