import { compile, pfn, pmakeUnit, PScriptContext, pStr, ptraceError, unit } from "@harmoniclabs/plu-ts";
import type { Script } from "../../offchain/chain/index.js";

/**
 * Two trivial Plutus V3 validators compiled with plu-ts: one accepts anything, one fails with a trace. They test
 * the devnet server's own script evaluation, independent of the escrow.
 */
function v3(flat: Uint8Array): Script {
  // compile() gives flat bytes; Lucid wants them wrapped once as a CBOR byte string.
  const n = flat.length;
  const header = n < 24 ? [0x40 + n] : n < 256 ? [0x58, n] : [0x59, n >> 8, n & 0xff];
  return { type: "PlutusV3", script: Buffer.concat([Buffer.from(header), Buffer.from(flat)]).toString("hex") };
}

export const ALWAYS_TRUE_TRACE = "ntx-test: always true";
export const ALWAYS_FAILS_TRACE = "ntx-test: always fails";

export const alwaysTrue: Script = v3(compile(pfn([PScriptContext.type], unit)((_ctx) => pmakeUnit())));
export const alwaysFails: Script = v3(compile(pfn([PScriptContext.type], unit)((_ctx) => ptraceError(unit).$(pStr(ALWAYS_FAILS_TRACE)))));

/** `Constr 0 []`, the unit-like datum/redeemer. */
export const VOID_DATA = "d87980";
