import type { LucidEvolution } from "../../../offchain/chain/index.js";
import { isNtxError, NtxError } from "../../../offchain/errors.js";
import {
  buildLeaseClaimTx,
  getLeaseUtxo,
  MAX_LEASE_CLAIM_BATCH,
  readLeases,
  submitTx,
  type LeaseDeployment,
  type LeaseUtxo,
  type LeaseView,
  type NtxAsset,
} from "../../../offchain/index.js";
import type { TxBuildPool } from "../../runtime/tx-pool/pool.js";
import { buildForSelectedWallet } from "../../runtime/tx-pool/selected-wallet.js";
import type { LeaseSettlement, ObservedLease } from "./types.js";

/**
 * The provider's lease escrow on a real chain (the devnet chain server or Blockfrost): lists the leases paying this
 * provider's payout key in its network's NTX, and claims them with buildLeaseClaimTx (local UPLC evaluation on),
 * signed by the provider's wallet, resolving once the claim is confirmed.
 * With `claimBuilds` (the provider node), claims are built on the tx-build thread the escrow claims use, so a batch
 * of MAX_LEASE_CLAIM_BATCH leases (2 to 5 s of local evaluation on a loaded 2-core machine) never stalls the
 * provider's event loop; only signing and submitting stay here.
 */

export interface ChainLeaseSettlementParams {
  /** Lucid on the provider's chain with the provider's payment wallet selected (it signs claims and pays fees). */
  lucid: LucidEvolution;
  deployment: LeaseDeployment;
  /** The network's NTX: a lease in any other asset is worth nothing to the provider and is never listed. */
  asset: NtxAsset;
  /** The provider's payout address; leases to any address with its payment key are its own. */
  payoutAddress: string;
  /**
   * The least a second this provider takes for a job it accepted, or undefined for a job it never took. A lease
   * below it (or for an unknown job) is not listed, so its service never starts and no claim ever touches it.
   */
  minRatePerSecond: (jobHash: string) => bigint | undefined;
  /** Leases left out, with why (logged and counted by the caller). */
  onRejected?: (lease: LeaseView | { outRef: string }, reason: string) => void;
  now?: () => number;
  /** Where claims are built (a worker thread on the same chain); without it, on this thread. */
  claimBuilds?: TxBuildPool;
  /** A claim not confirmed within this fails (retryable), so a lost transaction never holds up the keeper's stops. Default 5 min. */
  claimTimeoutMs?: number;
}

export function toObservedLease(lease: LeaseUtxo): ObservedLease {
  return {
    ref: { txHash: lease.utxo.txHash, outputIndex: lease.utxo.outputIndex },
    jobHash: lease.datum.jobHash,
    balance: lease.balance,
    ratePerSecond: lease.datum.rate,
    lastClaimMs: lease.datum.lastClaim,
    endMs: lease.datum.end,
    noticeMs: lease.datum.notice,
  };
}

export function createChainLeaseSettlement(params: ChainLeaseSettlementParams): LeaseSettlement {
  const { lucid, deployment } = params;
  const clock = params.now ?? Date.now;
  const reject = (lease: LeaseView | { outRef: string }, reason: string) => params.onRejected?.(lease, reason);
  return {
    async listLeases() {
      const scan = await readLeases(lucid, deployment.script, { provider: params.payoutAddress, asset: params.asset, now: clock() });
      for (const s of scan.skipped) reject({ outRef: `${s.outRef.txHash}#${s.outRef.outputIndex}` }, s.reason);
      const listed: ObservedLease[] = [];
      const seen = new Set<string>();
      // Two leases for one job (the keeper serves one per job): the one that runs longest, then the one claimed last,
      // a choice a claim never flips (only the buyer's top-up moves an end), so the provider keeps claiming the same
      // one. The other still accrues to the provider under the contract until the buyer closes it (`ntx pool stop
      // --lease`).
      for (const lease of [...scan.leases].sort((a, b) => b.datum.end - a.datum.end || b.datum.lastClaim - a.datum.lastClaim || a.outRef.localeCompare(b.outRef))) {
        const min = params.minRatePerSecond(lease.datum.jobHash);
        if (min === undefined) reject(lease, "no service job of this provider has this job hash");
        else if (lease.datum.rate < min) reject(lease, `rate ${lease.datum.rate} a second is below this provider's ${min}`);
        else if (!lease.wellFormed) reject(lease, "holds tokens other than its asset: it cannot be claimed");
        else if (seen.has(lease.datum.jobHash)) reject(lease, "a second lease for the same job");
        else {
          seen.add(lease.datum.jobHash);
          listed.push(toObservedLease(lease));
        }
      }
      return listed;
    },
    async now() {
      return clock();
    },
    async claim(leases) {
      if (leases.length > MAX_LEASE_CLAIM_BATCH) throw new NtxError("INVALID_CLAIM", `at most ${MAX_LEASE_CLAIM_BATCH} leases a claim (got ${leases.length})`);
      const current: LeaseUtxo[] = [];
      for (const l of leases) {
        try {
          current.push(await getLeaseUtxo(lucid, deployment.script, l.ref));
        } catch (error) {
          // Spent since it was listed (closed, settled or topped up): the next pass sees its successor.
          if (!isNtxError(error, "LEASE_NOT_FOUND")) throw error;
        }
      }
      if (current.length === 0) throw new NtxError("LEASE_NOT_FOUND", "every lease of this claim is already spent", { retryable: true });
      const tx = params.claimBuilds ? await buildForSelectedWallet(params.claimBuilds, lucid, "leaseClaim", { referenceUtxo: deployment.referenceUtxo, leases: current, now: clock() }) : await buildLeaseClaimTx(lucid, { deployment, leases: current, now: clock() });
      const limit = params.claimTimeoutMs ?? 300_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new NtxError("CLAIM_TIMEOUT", `the lease claim was not confirmed within ${limit} ms`, { retryable: true })), limit);
      });
      try {
        return { txHash: await Promise.race([submitTx(lucid, tx), timeout]) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
