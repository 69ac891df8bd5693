import { getAddressDetails, slotToUnixTime } from "@lucid-evolution/lucid";
import type { LucidEvolution, UTxO } from "@lucid-evolution/lucid";
import { NtxError } from "../errors.js";
import type { EscrowUtxo } from "../escrow-utxos.js";
import type { EscrowScript } from "../script.js";

/** The escrow script plus the UTxO that carries it as a reference script: every spend reads it, none inlines it. */
export interface EscrowDeployment {
  script: EscrowScript;
  referenceUtxo: UTxO;
}

/** How long a built transaction stays valid when no bound is forced by the escrow's own times. */
export const DEFAULT_TTL_MS = 10 * 60_000;

export function requireDeployment(deployment: EscrowDeployment): void {
  const ref = deployment.referenceUtxo.scriptRef;
  if (!ref || ref.script !== deployment.script.script.script) {
    throw new NtxError("REFERENCE_SCRIPT_MISMATCH", "the reference UTxO does not carry this escrow script");
  }
}

export function requireEscrowOf(deployment: EscrowDeployment, escrow: EscrowUtxo): void {
  if (escrow.utxo.address !== deployment.script.address) {
    throw new NtxError("NOT_AN_ESCROW", `UTxO ${escrow.utxo.txHash}#${escrow.utxo.outputIndex} is not an escrow of this script`);
  }
}

export function requireState(escrow: EscrowUtxo, kind: EscrowUtxo["datum"]["state"]["kind"], action: string): void {
  if (escrow.datum.state.kind !== kind) {
    throw new NtxError("ESCROW_STATE", `cannot ${action}: escrow is ${escrow.datum.state.kind}, not ${kind}`, {
      details: { outRef: `${escrow.utxo.txHash}#${escrow.utxo.outputIndex}` },
    });
  }
}

/** The POSIX time the script will see for a bound given as `unixTime` (Lucid rounds it down to its slot). */
export function onChainTime(lucid: LucidEvolution, unixTime: number): number {
  const network = lucid.config().network;
  if (!network) throw new NtxError("NETWORK_UNKNOWN", "the Lucid instance has no network configured");
  return slotToUnixTime(network, lucid.unixTimeToSlot(unixTime));
}

export async function walletKeyHash(lucid: LucidEvolution): Promise<string> {
  const address = await lucid.wallet().address();
  const hash = getAddressDetails(address).paymentCredential?.hash;
  if (!hash) throw new NtxError("WALLET_NO_KEY", "the selected wallet has no payment key hash");
  return hash;
}

/** Lucid's build errors (including a failing script during local evaluation) as one NtxError code. */
export async function completeTx<T>(action: string, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (cause) {
    if (cause instanceof NtxError) throw cause;
    throw new NtxError("TX_BUILD_FAILED", `${action}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
