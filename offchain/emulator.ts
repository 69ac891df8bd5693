/*
 * Lucid's in-memory Emulator for tests and benchmarks (the one place outside the builders that needs Lucid's
 * runtime; everything else in test/ and scripts/ reaches Lucid through here). Scripts are evaluated locally by
 * Lucid when a transaction is built: the Emulator itself does not run them on submit.
 */
import { Emulator, Lucid, PROTOCOL_PARAMETERS_DEFAULT, generateEmulatorAccountFromPrivateKey, getAddressDetails } from "@lucid-evolution/lucid";
import type { Assets, EmulatorAccount, LucidEvolution, ProtocolParameters, TxSignBuilder, UTxO } from "@lucid-evolution/lucid";

export { Emulator, generateEmulatorAccountFromPrivateKey };
export type { Assets, EmulatorAccount, LucidEvolution, ProtocolParameters, TxSignBuilder, UTxO };

/** Mainnet's fee and limit parameters (set explicitly: the Emulator's defaults could drift between Lucid versions). */
export const MAINNET_PROTOCOL_PARAMETERS: ProtocolParameters = {
  ...PROTOCOL_PARAMETERS_DEFAULT,
  minFeeA: 44,
  minFeeB: 155381,
  priceMem: 0.0577,
  priceStep: 0.0000721,
  minFeeRefScriptCostPerByte: 15,
  coinsPerUtxoByte: 4310n,
  maxTxSize: 16384,
  maxTxExMem: 14_000_000n,
  maxTxExSteps: 10_000_000_000n,
};

/** A Lucid instance on a fresh Emulator holding `accounts`. */
export async function emulatorLucid(accounts: EmulatorAccount[], parameters: ProtocolParameters = MAINNET_PROTOCOL_PARAMETERS) {
  const emulator = new Emulator(accounts, parameters);
  const lucid = await Lucid(emulator, "Custom");
  return { emulator, lucid };
}

export function paymentKeyHashOf(address: string): string {
  const hash = getAddressDetails(address).paymentCredential?.hash;
  if (!hash) throw new Error(`no payment credential in ${address}`);
  return hash;
}

/** Fee, size and CBOR of a built transaction. */
export function txFacts(tx: TxSignBuilder): { fee: bigint; sizeBytes: number; cbor: string; inlineScripts: number; referenceInputs: number } {
  const t = tx.toTransaction();
  const cbor = tx.toCBOR();
  return {
    fee: t.body().fee(),
    sizeBytes: cbor.length / 2,
    cbor,
    inlineScripts: t.witness_set().plutus_v3_scripts()?.len() ?? 0,
    referenceInputs: t.body().reference_inputs()?.len() ?? 0,
  };
}
