/*
 * buildLeaseClaimTx(lucid, LeaseClaimParams) -> Promise<TxSignBuilder>
 *   The provider's wallet (the payment key of every lease's provider address) claims what has accrued on each lease
 *   up to the transaction's lower bound (`now` rounded down to its slot), in one transaction. Leases with nothing
 *   owed are left out; none left is NOTHING_TO_CLAIM. Each lease continues with lastClaim moved and its balance
 *   lowered by exactly the claim; the claimed asset lands in the wallet's change. Pass at most MAX_LEASE_CLAIM_BATCH leases (build time, see below).
 */
import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { getAddressDetails } from "@lucid-evolution/lucid";
import { LeaseRedeemer, leaseOwed } from "../lease-datum.js";
import type { LeaseUtxo } from "../lease-utxos.js";
import { NtxError } from "../errors.js";
import { DEFAULT_TTL_MS, onChainTime, pickWalletInputs, walletKeyHash } from "./common.js";
import { addContinuing, completeLeaseTx, leaseAssets, requireLease, type Continuing, type LeaseDeployment } from "./lease-common.js";

/**
 * Leases per claim transaction. Not the ledger's limit (30 leases use 30 % of the memory and 8.7 KB, see
 * `npm run bench:escrow`, lease.paths) but local evaluation's: every spend finds its own input and output by index,
 * and Lucid's evaluator charges each list step by the size of the whole list, so build time grows with the cube of
 * the batch (10 leases 0.4 to 0.9 s, 20 leases 2.2 to 4.7 s, 30 leases 17 to 24 s on the loaded 2-core machine). Claim
 * more leases in several transactions.
 */
export const MAX_LEASE_CLAIM_BATCH = 20;

export interface LeaseClaimParams {
  deployment: LeaseDeployment;
  leases: LeaseUtxo[];
  /** POSIX ms; defaults to Date.now(). */
  now?: number;
}

export async function buildLeaseClaimTx(lucid: LucidEvolution, params: LeaseClaimParams): Promise<TxSignBuilder> {
  const { deployment } = params;
  const keys = new Set(params.leases.map((l) => `${l.utxo.txHash}#${l.utxo.outputIndex}`));
  if (keys.size !== params.leases.length) throw new NtxError("INVALID_CLAIM", "the same lease is listed twice");
  const now = params.now ?? Date.now();
  const lower = onChainTime(lucid, now);
  const signer = await walletKeyHash(lucid);
  const continuing: Continuing[] = [];
  for (const lease of params.leases) {
    requireLease(deployment, lease);
    if (getAddressDetails(lease.datum.provider).paymentCredential?.hash !== signer) {
      throw new NtxError("NOT_THE_PROVIDER", `lease ${lease.utxo.txHash}#${lease.utxo.outputIndex} pays another provider`);
    }
    const claim = leaseOwed(lease.datum, lease.balance, lower);
    if (claim === 0n) continue;
    const t = Math.min(lower, lease.datum.end);
    continuing.push({
      lease,
      redeemer: (i) => LeaseRedeemer.claim(i),
      datum: { ...lease.datum, lastClaim: t },
      assets: leaseAssets(lease.datum, lease.lovelace, lease.balance - claim),
    });
  }
  if (continuing.length === 0) throw new NtxError("NOTHING_TO_CLAIM", "nothing has accrued on these leases yet", { retryable: true });
  const inputs = await pickWalletInputs(lucid, {});
  const tx = await addContinuing(lucid, lucid.newTx(), deployment, continuing, inputs);
  return completeLeaseTx(lucid, "claim leases", tx.addSignerKey(signer).validFrom(lower).validTo(now + DEFAULT_TTL_MS), deployment, false);
}
