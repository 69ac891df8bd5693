import { calculateMinLovelaceFromUTxO } from "@lucid-evolution/lucid";
import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { encodeEscrowDatum, type EscrowDatum } from "../datum.js";
import { NtxError } from "../errors.js";
import { ntxUnit } from "../ntx.js";
import type { EscrowScript } from "../script.js";
import { DEFAULT_TTL_MS, completeTx, walletKeyHash } from "./common.js";

/** One job to lock: the escrow datum's fields, less the state (always Locked) and with optional defaults. */
export type LockJob = Pick<EscrowDatum, "payout" | "proofKey" | "jobHash" | "amount" | "deadline" | "challengeWindow"> & {
  arbiter?: EscrowDatum["arbiter"];
  /** Defaults to the wallet's payment key hash. */
  requester?: string;
  /** Lovelace to put in the escrow; defaults to the ledger minimum for the output. */
  lovelace?: bigint;
};

export interface LockParams {
  script: EscrowScript;
  jobs: LockJob[];
  /** POSIX ms used to refuse deadlines in the past and to bound the validity range; defaults to Date.now(). */
  now?: number;
  /**
   * How long the signed transaction stays valid (default DEFAULT_TTL_MS). A lock that was signed but dropped must
   * not land much later and pay for the same job a second time.
   */
  validForMs?: number;
}

/** Jobs per lock transaction: far below the size limit, and keeps escrow output indices small. */
export const MAX_LOCK_JOBS = 60;

/** One escrow output per job, in `jobs` order at output indices 0..n-1, each holding `amount` NTX. */
export async function buildLockTx(lucid: LucidEvolution, params: LockParams): Promise<TxSignBuilder> {
  if (params.jobs.length === 0) throw new NtxError("INVALID_LOCK", "nothing to lock: no jobs");
  if (params.jobs.length > MAX_LOCK_JOBS) throw new NtxError("INVALID_LOCK", `at most ${MAX_LOCK_JOBS} jobs per lock transaction`);
  const now = params.now ?? Date.now();
  const walletPkh = await walletKeyHash(lucid);
  let tx = lucid.newTx();
  for (const job of params.jobs) {
    if (job.deadline <= now) throw new NtxError("INVALID_LOCK", `job ${job.jobHash}: deadline is in the past`);
    const datum: EscrowDatum = {
      state: { kind: "locked" },
      requester: job.requester ?? walletPkh,
      payout: job.payout,
      proofKey: job.proofKey,
      jobHash: job.jobHash,
      amount: job.amount,
      deadline: job.deadline,
      challengeWindow: job.challengeWindow,
      arbiter: job.arbiter ?? null,
    };
    const unit = ntxUnit(params.script.ntx);
    const assets: Record<string, bigint> = {
      [unit]: job.amount,
      lovelace: job.lovelace ?? completedMinLovelace(lucid, params.script, datum, unit),
    };
    tx = tx.pay.ToContract(params.script.address, { kind: "inline", value: encodeEscrowDatum(datum) }, assets);
  }
  const validTo = now + (params.validForMs ?? DEFAULT_TTL_MS);
  return completeTx("lock", () => tx.validTo(validTo).complete());
}

/**
 * Complete and Dispute must keep the escrow's value unchanged while its datum grows by the Completed state, so
 * the escrow is funded for the larger datum from the start (otherwise the continuing output would fall under the
 * ledger's min-ADA and could not be built).
 */
export function completedMinLovelace(lucid: LucidEvolution, script: EscrowScript, datum: EscrowDatum, unit: string): bigint {
  const coinsPerUtxoByte = lucid.config().protocolParameters?.coinsPerUtxoByte;
  if (coinsPerUtxoByte === undefined) throw new NtxError("PROTOCOL_PARAMETERS_MISSING", "Lucid has no protocol parameters");
  const completed = encodeEscrowDatum({
    ...datum,
    state: { kind: "completed", resultHash: "00".repeat(32), completedAt: Number.MAX_SAFE_INTEGER },
  });
  return calculateMinLovelaceFromUTxO(coinsPerUtxoByte, {
    txHash: "00".repeat(32),
    outputIndex: 0,
    address: script.address,
    assets: { lovelace: 10_000_000n, [unit]: datum.amount },
    datum: completed,
  });
}
