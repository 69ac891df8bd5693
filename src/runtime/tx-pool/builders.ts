/**
 * The transaction builders a tx-build thread can run, by name, each from plain data (what survives
 * `postMessage`: UTxOs and escrows as Lucid and offchain/ represent them, bigints included). A new builder is one
 * entry here; the API asks for it with `pool.build("name", params)`.
 */
import type { Chain, UTxO } from "../../../offchain/chain/index.js";
import {
  buildAcceptTx,
  buildClaimTx,
  buildCompleteTx,
  buildDisputeTx,
  buildLeaseClaimTx,
  buildLockTx,
  buildRefundTx,
  escrowScript,
  leaseScript,
  LUCID_NETWORK,
  type EscrowDeployment,
  type EscrowScript,
  type EscrowUtxo,
  type LeaseScript,
  type LeaseUtxo,
  type LockJob,
  type NtxAsset,
} from "../../../offchain/index.js";

/** The wallet a browser hands over: its address and the UTxOs the chain confirmed of it. */
export interface BuildWallet {
  address: string;
  utxos: UTxO[];
}

/** Where the escrow's reference scripts live: the escrow script's UTxO and, where deployed, the batch script's. */
export interface DeploymentRefs {
  referenceUtxo: UTxO;
  batchReferenceUtxo?: UTxO | undefined;
}

/** A buyer's settlement of one escrow (accept, dispute, refund), built for the wallet that locked it. */
type SettleParams = { wallet: BuildWallet; ntx: NtxAsset; refs: DeploymentRefs; escrow: EscrowUtxo; now: number };

export interface BuilderParams {
  lock: { wallet: BuildWallet; ntx: NtxAsset; jobs: LockJob[]; now: number };
  /** `askedAt` (wall clock when asked): `now` moves on by the time the build waited for a thread (see startNow). */
  claim: { wallet: BuildWallet; ntx: NtxAsset; refs: DeploymentRefs; escrows: EscrowUtxo[]; now: number; askedAt?: number };
  /** The provider's Complete of one escrow against its signed proof; the wallet pays the fee. */
  complete: { wallet: BuildWallet; ntx: NtxAsset; refs: DeploymentRefs; escrow: EscrowUtxo; resultHash: string; signature: string; now: number; askedAt?: number; validForMs?: number };
  accept: SettleParams;
  dispute: SettleParams;
  refund: SettleParams;
  /** A provider's claim of the leases paying it; `referenceUtxo` is the lease script's, when one is deployed. */
  leaseClaim: { wallet: BuildWallet; referenceUtxo?: UTxO | undefined; leases: LeaseUtxo[]; now: number };
}
export type BuilderName = keyof BuilderParams;

/** An unsigned transaction as the API hands it to a wallet. */
export interface BuiltTx {
  tx: string;
  txHash: string;
  fee: string;
}

const scripts = new Map<string, EscrowScript>();
function scriptOf(chain: Chain, ntx: NtxAsset): EscrowScript {
  const key = `${chain.network}:${ntx.policyId}.${ntx.assetName}`;
  let script = scripts.get(key);
  if (!script) scripts.set(key, (script = escrowScript(ntx, LUCID_NETWORK[chain.network])));
  return script;
}

const leaseScripts = new Map<string, LeaseScript>();
function leaseScriptOf(chain: Chain): LeaseScript {
  let script = leaseScripts.get(chain.network);
  if (!script) leaseScripts.set(chain.network, (script = leaseScript(LUCID_NETWORK[chain.network])));
  return script;
}

/** What a build thread needs of the deployment (the scripts themselves it derives from the NTX asset). */
export function deploymentRefs(deployment: EscrowDeployment): DeploymentRefs {
  return deployment.batchReferenceUtxo ? { referenceUtxo: deployment.referenceUtxo, batchReferenceUtxo: deployment.batchReferenceUtxo } : { referenceUtxo: deployment.referenceUtxo };
}

function deploymentOf(chain: Chain, ntx: NtxAsset, refs: DeploymentRefs): EscrowDeployment {
  const script = scriptOf(chain, ntx);
  return refs.batchReferenceUtxo ? { script, referenceUtxo: refs.referenceUtxo, batchReferenceUtxo: refs.batchReferenceUtxo } : { script, referenceUtxo: refs.referenceUtxo };
}

/**
 * The build's clock when it starts, not when it was asked: a build that waited in the queue (or for a thread to
 * start, a minute on a loaded machine) would otherwise get a validity range already partly or wholly past (seen:
 * a Complete valid 60 s, built after 67 s of waiting, rejected as expired).
 */
function startNow(p: { now: number; askedAt?: number }): number {
  return p.askedAt === undefined ? p.now : p.now + Math.max(0, Date.now() - p.askedAt);
}

const builders: { [N in BuilderName]: (chain: Chain, params: BuilderParams[N]) => ReturnType<typeof buildLockTx> } = {
  async lock(chain, p) {
    const lucid = await chain.lucid(p.wallet);
    return buildLockTx(lucid, { script: scriptOf(chain, p.ntx), jobs: p.jobs, now: p.now });
  },
  async claim(chain, p) {
    const lucid = await chain.lucid(p.wallet);
    return buildClaimTx(lucid, { deployment: deploymentOf(chain, p.ntx, p.refs), escrows: p.escrows, now: startNow(p) });
  },
  async complete(chain, p) {
    const lucid = await chain.lucid(p.wallet);
    const { escrow, resultHash, signature } = p;
    return buildCompleteTx(lucid, { deployment: deploymentOf(chain, p.ntx, p.refs), escrow, resultHash, signature, now: startNow(p), ...(p.validForMs === undefined ? {} : { validForMs: p.validForMs }) });
  },
  async accept(chain, p) {
    return buildAcceptTx(await chain.lucid(p.wallet), { deployment: deploymentOf(chain, p.ntx, p.refs), escrow: p.escrow });
  },
  async dispute(chain, p) {
    return buildDisputeTx(await chain.lucid(p.wallet), { deployment: deploymentOf(chain, p.ntx, p.refs), escrow: p.escrow, now: p.now });
  },
  async refund(chain, p) {
    return buildRefundTx(await chain.lucid(p.wallet), { deployment: deploymentOf(chain, p.ntx, p.refs), escrow: p.escrow, now: p.now });
  },
  async leaseClaim(chain, p) {
    const script = leaseScriptOf(chain);
    return buildLeaseClaimTx(await chain.lucid(p.wallet), { deployment: p.referenceUtxo ? { script, referenceUtxo: p.referenceUtxo } : { script }, leases: p.leases, now: p.now });
  },
};

export function isBuilderName(name: string): name is BuilderName {
  return Object.hasOwn(builders, name);
}

export async function runBuilder<N extends BuilderName>(chain: Chain, name: N, params: BuilderParams[N]): Promise<BuiltTx> {
  const tx = await builders[name](chain, params);
  return { tx: tx.toCBOR(), txHash: tx.toHash(), fee: tx.toTransaction().body().fee().toString() };
}
