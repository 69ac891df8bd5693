import type { Assets, LucidEvolution, TxBuilder, TxSignBuilder, UTxO } from "@lucid-evolution/lucid";
import { encodeLeaseDatum, type LeaseDatum } from "../lease-datum.js";
import type { LeaseScript } from "../lease-script.js";
import type { LeaseUtxo } from "../lease-utxos.js";
import { NtxError } from "../errors.js";
import { ntxUnit } from "../ntx.js";
import { completeTx, payLedgerMinimumFee, referenceScriptBytes } from "./common.js";
import { unspendableAddress } from "./deploy-reference-script.js";
import { byInputOrder } from "./settle.js";

/*
 * What the lease builders share:
 *   buildLeaseDeployTx(lucid, { script, holdAt? }) -> TxSignBuilder   (the lease script as a reference script, output 0)
 *   loadLeaseDeployment(lucid, script, outRef) -> LeaseDeployment
 * A LeaseDeployment without referenceUtxo makes every builder attach the script inline (1.8 KB: dearer).
 */

export interface LeaseDeployment {
  script: LeaseScript;
  referenceUtxo?: UTxO;
}

export async function buildLeaseDeployTx(lucid: LucidEvolution, params: { script: LeaseScript; holdAt?: string }): Promise<TxSignBuilder> {
  const holdAt = params.holdAt ?? unspendableAddress(lucid);
  return completeTx("deploy lease script", () => lucid.newTx().pay.ToAddressWithData(holdAt, undefined, {}, params.script.script).complete());
}

export async function loadLeaseDeployment(lucid: LucidEvolution, script: LeaseScript, outRef: { txHash: string; outputIndex: number }): Promise<LeaseDeployment> {
  const [utxo] = await lucid.utxosByOutRef([outRef]);
  if (!utxo || utxo.scriptRef?.script !== script.script.script) {
    throw new NtxError("REFERENCE_SCRIPT_NOT_FOUND", `no lease reference script at ${outRef.txHash}#${outRef.outputIndex}`);
  }
  return { script, referenceUtxo: utxo };
}

export function withLeaseScript(tx: TxBuilder, deployment: LeaseDeployment): TxBuilder {
  return deployment.referenceUtxo ? tx.readFrom([deployment.referenceUtxo]) : tx.attach.SpendingValidator(deployment.script.script);
}

export function requireLease(deployment: LeaseDeployment, lease: LeaseUtxo): void {
  if (lease.utxo.address !== deployment.script.address) {
    throw new NtxError("NOT_A_LEASE", `UTxO ${lease.utxo.txHash}#${lease.utxo.outputIndex} is not a lease of this script`);
  }
  if (!lease.wellFormed) {
    throw new NtxError("LEASE_MALFORMED", `lease ${lease.utxo.txHash}#${lease.utxo.outputIndex} holds other tokens than its asset: it cannot continue`);
  }
}

/** The lease's value after a path that keeps it: same lovelace (or more), `balance` of its asset, nothing else. */
export function leaseAssets(datum: LeaseDatum, lovelace: bigint, balance: bigint): Assets {
  return balance > 0n ? { lovelace, [ntxUnit(datum.asset)]: balance } : { lovelace };
}

/** Lovelace of a filler output (see addContinuing). */
export const FILLER_LOVELACE = 1_500_000n;

/** One lease spent through a path that keeps it (Claim, TopUp): its redeemer and continuing output. */
export interface Continuing {
  lease: LeaseUtxo;
  redeemer: (inputIndex: bigint) => string;
  datum: LeaseDatum;
  assets: Assets;
}

/**
 * Spends `leases` and `walletInputs` and puts each lease's continuing output at the output index equal to its input
 * index (the validator's rule against double satisfaction), with a small output back to the wallet at every index
 * below the last lease that a wallet input takes. Build with `complete({ coinSelection: false })`: change goes last.
 */
export async function addContinuing(lucid: LucidEvolution, tx: TxBuilder, deployment: LeaseDeployment, leases: Continuing[], walletInputs: UTxO[]): Promise<TxBuilder> {
  const order = [...leases.map((c) => c.lease.utxo), ...walletInputs].sort(byInputOrder);
  const key = (u: { txHash: string; outputIndex: number }) => `${u.txHash}#${u.outputIndex}`;
  const byKey = new Map(leases.map((c) => [key(c.lease.utxo), c]));
  const last = Math.max(...order.map((u, i) => (byKey.has(key(u)) ? i : -1)));
  const wallet = await lucid.wallet().address();
  let next = withLeaseScript(tx.collectFrom(walletInputs), deployment);
  for (const [i, u] of order.entries()) {
    if (i > last) break;
    const c = byKey.get(key(u));
    if (!c) {
      next = next.pay.ToAddress(wallet, { lovelace: FILLER_LOVELACE });
      continue;
    }
    next = next
      .collectFrom([u], c.redeemer(BigInt(i)))
      .pay.ToContract(deployment.script.address, { kind: "inline", value: encodeLeaseDatum(c.datum) }, c.assets);
  }
  return next;
}

/** complete() without coin selection, then the ledger's minimum fee (see payLedgerMinimumFee). */
export async function completeLeaseTx(lucid: LucidEvolution, action: string, tx: TxBuilder, deployment: LeaseDeployment, coinSelection: boolean): Promise<TxSignBuilder> {
  const built = await completeTx(action, () => tx.complete({ coinSelection }));
  return payLedgerMinimumFee(lucid, built, referenceScriptBytes([deployment.referenceUtxo]));
}
