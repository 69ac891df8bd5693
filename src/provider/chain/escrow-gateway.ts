import { isNtxError, NtxError } from "../../../offchain/errors.js";
import {
  buildClaimTx,
  buildCompleteTx,
  EscrowReads,
  getEscrowUtxo,
  submitTx,
  type EscrowDeployment,
  type EscrowUtxo,
} from "../../../offchain/index.js";
import type { LucidEvolution } from "../../../offchain/chain/index.js";
import { minLovelaceOfLaterStates } from "../../../offchain/min-ada.js";
import { deploymentRefs } from "../../runtime/tx-pool/builders.js";
import type { TxBuildPool } from "../../runtime/tx-pool/pool.js";
import { buildForSelectedWallet } from "../../runtime/tx-pool/selected-wallet.js";
import type { EscrowGateway, ObservedEscrow, OutRef } from "../types.js";

export interface LucidEscrowGatewayParams {
  /** A Lucid instance on the provider's chain with the provider's payment wallet selected (it pays the fees). */
  lucid: LucidEvolution;
  deployment: EscrowDeployment;
  /** Clock used for validity ranges; the builders default to the local clock too. */
  now?: () => number;
  /**
   * How long a Complete transaction stays valid. Its upper bound becomes `completedAt`, so the challenge window
   * (and the claim) starts that much after the real completion. Default: the builder's COMPLETE_TTL_MS.
   */
  completeValidForMs?: number;
  /**
   * Where Completes and claims are built: a tx-build pool (worker threads, bounded, with a timeout) whose chain is the provider's.
   * A claim of a whole batch evaluates every escrow's script locally (tens of seconds for a large batch), which on
   * the daemon's own thread would stall its NATS traffic, heartbeats and job events for as long; each Complete
   * evaluates the escrow's proof check (keccak + secp256k1), which with many providers in one process (the load
   * suite) or many jobs at once queued their builds on the one event loop. Without a pool, both are built on the
   * calling thread (tests on Lucid's in-memory Emulator, which a worker cannot reach).
   */
  claimBuilds?: TxBuildPool;
  /**
   * A scan of the script address that landed at most this long ago answers `findEscrows` again (default 0: every
   * call scans, concurrent calls share one). The daemon looks for each waiting job's escrow in turn, and every look
   * read and decoded the whole address: with a few hundred open escrows and tens of providers the chain server
   * timed out. An escrow locked since is found on the next pass, this much later at most.
   */
  scanReuseMs?: number;
  /**
   * The reads of the script address shared with other providers of this process (the load suite runs tens in one):
   * one read serves them all instead of one per provider. Replaces `scanReuseMs` (the shared reads have their own).
   */
  reads?: EscrowReads;
  /**
   * `getEscrow` answers from an address read that landed at most this long ago, when it holds the escrow (default:
   * the reads' own reuse time); an escrow it lacks is read by its out-ref. The daemon looks at each Completed job's escrow
   * every pass until its window ends: a minute of per-out-ref reads per job, when the address was read anyway.
   */
  presentFromReadsMs?: number;
}

export function toObserved(e: EscrowUtxo, minLovelace: bigint): ObservedEscrow {
  return {
    outRef: { txHash: e.utxo.txHash, outputIndex: e.utxo.outputIndex },
    ntxInValue: e.ntxHeld,
    jobHash: e.datum.jobHash,
    amount: e.datum.amount,
    payout: e.datum.payout,
    proofKey: e.datum.proofKey,
    deadline: e.datum.deadline,
    challengeWindow: e.datum.challengeWindow,
    arbiter: e.datum.arbiter,
    lovelace: e.utxo.assets.lovelace ?? 0n,
    minLovelace,
    state: e.datum.state,
  };
}

/**
 * The provider's view of the escrow on a real chain (the devnet chain server or Blockfrost): reads escrow UTxOs
 * with the offchain readers, builds Complete/Claim with the offchain builders (local UPLC evaluation on), signs
 * with the provider's wallet and waits for confirmation.
 */
export function createLucidEscrowGateway(params: LucidEscrowGatewayParams): EscrowGateway {
  const { lucid, deployment } = params;
  const clock = params.now ?? Date.now;
  // By the decoded datum, which the decoder shares per out-ref and datum (escrow-utxos.ts): an output's value never
  // changes, so neither does what its later states need; a waiting or Completed job's escrow is looked at every pass.
  const minLovelace = new WeakMap<EscrowUtxo["datum"], bigint>();
  const observe = (e: EscrowUtxo) => {
    let need = minLovelace.get(e.datum);
    if (need === undefined) minLovelace.set(e.datum, (need = minLovelaceOfLaterStates(lucid, e)));
    return toObserved(e, need);
  };
  const fetch = async (ref: OutRef): Promise<EscrowUtxo | null> => {
    try {
      return await getEscrowUtxo(lucid, deployment.script, ref);
    } catch (error) {
      if (isNtxError(error, "ESCROW_NOT_FOUND")) return null;
      throw error;
    }
  };
  const reads = params.reads ?? new EscrowReads({ lucid: async () => lucid }, deployment.script, params.scanReuseMs ?? 0, clock);
  return {
    async findEscrows(jobHash) {
      const scan = await reads.scan();
      return scan.escrows.filter((e) => e.datum.jobHash === jobHash).map(observe);
    },
    async getEscrow(ref) {
      // The address's read, when one landed a moment ago anyway (jobs waiting for their escrows), answers for every
      // escrow still on it; one that is not on it is read by out-ref, so "spent" is never concluded from an older read.
      // An out-ref's output never changes, and every step taken on an escrow (Complete, claim) reads it again first:
      // a read a few seconds old can only say "it was there", which is all this answer is used for.
      const recent = reads.fresh(params.presentFromReadsMs);
      if (recent) {
        const hit = (await recent).escrows.find((e) => e.utxo.txHash === ref.txHash && e.utxo.outputIndex === ref.outputIndex);
        if (hit) return observe(hit);
      }
      const e = await fetch(ref);
      return e ? observe(e) : null;
    },
    async now() {
      return clock();
    },
    async submitComplete({ escrow, resultHash, signature }) {
      const current = await fetch(escrow.outRef);
      if (!current) throw new NtxError("ESCROW_NOT_FOUND", `escrow ${escrow.outRef.txHash}#${escrow.outRef.outputIndex} is spent`);
      const validFor = params.completeValidForMs === undefined ? {} : { validForMs: params.completeValidForMs };
      const tx = params.claimBuilds
        ? // A Complete goes ahead of waiting claims: it holds the job's capacity and must land before the deadline.
          await buildForSelectedWallet(params.claimBuilds, lucid, "complete", { ntx: deployment.script.ntx, refs: deploymentRefs(deployment), escrow: current, resultHash, signature, now: clock(), askedAt: Date.now(), ...validFor }, { urgent: true })
        : await buildCompleteTx(lucid, { deployment, escrow: current, resultHash, signature, now: clock(), ...validFor });
      const txHash = await submitTx(lucid, tx);
      // buildCompleteTx puts the continuing (Completed) escrow at output 0.
      return { txHash, completed: { txHash, outputIndex: 0 } };
    },
    async submitClaim(escrows) {
      const current: EscrowUtxo[] = [];
      for (const e of escrows) {
        const utxo = await fetch(e.outRef);
        if (utxo) current.push(utxo);
      }
      if (current.length === 0) throw new NtxError("ESCROW_NOT_FOUND", "every escrow of this claim is already spent", { retryable: false });
      const tx = params.claimBuilds
        ? await buildForSelectedWallet(params.claimBuilds, lucid, "claim", { ntx: deployment.script.ntx, refs: deploymentRefs(deployment), escrows: current, now: clock(), askedAt: Date.now() })
        : await buildClaimTx(lucid, { deployment, escrows: current, now: clock() });
      return { txHash: await submitTx(lucid, tx) };
    },
  };
}
