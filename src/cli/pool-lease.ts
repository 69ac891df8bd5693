import { createChain, loadChainConfig, paymentKeyHashOfPrivateKey, type LucidEvolution } from "../../offchain/chain/index.js";
import { NtxError } from "../../offchain/errors.js";
import {
  buildLeaseCloseTx,
  buildLeaseOpenTx,
  buildLeaseTopUpTx,
  leaseScriptFor,
  loadLeaseDeployment,
  readLeases,
  submitTx,
  type LeaseDeployment,
  type LeaseView,
  type NtxAsset,
} from "../../offchain/index.js";
import { loadPaymentKey } from "../provider/keys.js";

/*
 * `ntx pool topup` and `ntx pool stop` on the chain: the buyer's wallet (its payment key file, mode 0600, as every
 * signing command) finds its lease for the job and tops it up (buildLeaseTopUpTx) or closes it (buildLeaseCloseTx).
 */

export interface PoolLeaseParams {
  job: string;
  keyFile: string;
  /** `<txHash>#<index>` of the lease script's reference UTxO; without it the script goes inline. */
  referenceScript?: string;
  /** `<txHash>#<index>` of the lease, when more than one pays for the job. */
  lease?: string;
  env?: NodeJS.ProcessEnv;
}

export interface PoolLeaseResult {
  txHash: string;
  lease: string;
  /** Base units added (topup), or the balance the close split between provider and buyer (stop). */
  amount: bigint;
  end: number;
}

async function buyerChain(params: PoolLeaseParams): Promise<{ key: string; lucid: LucidEvolution; deployment: LeaseDeployment }> {
  const key = await loadPaymentKey(params.keyFile);
  const lucid = await createChain(loadChainConfig(params.env ?? process.env)).lucid({ privateKey: key });
  const script = leaseScriptFor(lucid);
  const ref = params.referenceScript ?? (params.env ?? process.env).NTX_LEASE_REFERENCE_SCRIPT;
  if (!ref) return { key, lucid, deployment: { script } };
  if (!/^[0-9a-f]{64}#[0-9]{1,5}$/.test(ref)) throw new NtxError("CLI_BAD_OPTION", "--reference-script must be txHash#index");
  const [txHash, index] = ref.split("#") as [string, string];
  return { key, lucid, deployment: await loadLeaseDeployment(lucid, script, { txHash, outputIndex: Number(index) }) };
}

/**
 * Opens the lease that pays for a matched service job: `rate` base units a second (at least the provider's prices
 * for the job's resources, or the provider never starts it) to the provider's payout address (its offer's), for
 * `days`, with the spec's notice.
 */
export async function openPoolLease(
  params: PoolLeaseParams & { provider: string; asset: NtxAsset; rate: bigint; days: number; noticeMs: number; /** Accrual starts when the open expires (default 5 min). */ validForMs?: number },
): Promise<PoolLeaseResult> {
  const { key, lucid, deployment } = await buyerChain(params);
  const tx = await buildLeaseOpenTx(lucid, { script: deployment.script, provider: params.provider, asset: params.asset, jobHash: params.job, rate: params.rate, durationMs: Math.round(params.days * 86_400_000), notice: params.noticeMs, ...(params.validForMs === undefined ? {} : { validForMs: params.validForMs }) });
  const txHash = await submitTx(lucid, tx);
  const { leases } = await readLeases(lucid, deployment.script, { buyer: paymentKeyHashOfPrivateKey(key) });
  const lease = leases.find((l) => l.utxo.txHash === txHash);
  return { txHash, lease: lease?.outRef ?? `${txHash}#0`, amount: lease?.balance ?? 0n, end: lease?.datum.end ?? 0 };
}

async function openLease(params: PoolLeaseParams): Promise<{ lucid: LucidEvolution; deployment: LeaseDeployment; lease: LeaseView }> {
  const { key, lucid, deployment } = await buyerChain(params);
  const { leases } = await readLeases(lucid, deployment.script, { buyer: paymentKeyHashOfPrivateKey(key) });
  const mine = leases.filter((l) => l.datum.jobHash === params.job && (params.lease === undefined || l.outRef === params.lease));
  if (mine.length === 0) throw new NtxError("LEASE_NOT_FOUND", `no lease of ${await lucid.wallet().address()} pays for job ${params.job}`);
  if (mine.length > 1) throw new NtxError("LEASE_AMBIGUOUS", `${mine.length} leases pay for job ${params.job}: ${mine.map((l) => l.outRef).join(", ")}; pick one with --lease`);
  return { lucid, deployment, lease: mine[0]! };
}

/** Adds `amount` base units, or `days` at the lease's own rate. */
export async function topUpPoolLease(params: PoolLeaseParams & ({ amount: bigint } | { days: number })): Promise<PoolLeaseResult> {
  const { lucid, deployment, lease } = await openLease(params);
  const add = "amount" in params ? params.amount : leaseCost(params.days, lease.datum.rate);
  const txHash = await submitTx(lucid, await buildLeaseTopUpTx(lucid, { deployment, lease, add }));
  return { txHash, lease: lease.outRef, amount: add, end: lease.datum.end + Number(add / lease.datum.rate) * 1000 };
}

/** Closes the lease: the provider gets what accrued to the transaction's upper bound, the buyer the rest. */
export async function closePoolLease(params: PoolLeaseParams): Promise<PoolLeaseResult> {
  const { lucid, deployment, lease } = await openLease(params);
  const tx = await buildLeaseCloseTx(lucid, { deployment, lease });
  const txHash = await submitTx(lucid, tx);
  return { txHash, lease: lease.outRef, amount: lease.balance, end: lease.datum.end };
}

/** NTX base units that pay `days` of a lease at `ratePerSecond`. */
export function leaseCost(days: number, ratePerSecond: bigint): bigint {
  return ratePerSecond * BigInt(Math.ceil(days * 86_400));
}
