/**
 * Transactions for browser wallets, which have no Lucid: the API builds them unsigned for the wallet's address
 * and UTxOs, the wallet signs (`signTx(tx, true)`), the API assembles and submits. Every failure is an error the
 * page can show; nothing is retried or skipped on a money path.
 */
import type { LucidEvolution } from "../../offchain/chain/index.js";
import { decodeEscrowDatum, isNtxError, ntxUnit, type EscrowUtxo } from "../../offchain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { normalizeAddress } from "./address.js";
import type { ApiContext } from "./context.js";
import { escrowsOfJob, escrowView, verifiedMatch } from "./jobs.js";
import { deploymentRefs, type BuildWallet } from "../runtime/tx-pool/builders.js";
import { outRefOfUtxoCbor } from "./utxo-ref.js";
import { isWalletFundsFailure, walletFundsError } from "../runtime/tx-pool/funds-error.js";

/** Lucid's coin and collateral selection failures read as "not enough funds" to a person. */
export function refineBuildError(error: unknown): never {
  if (isWalletFundsFailure(error)) throw walletFundsError(error as Error);
  throw error;
}

/** The browser wallet's address and those of its UTxOs the chain knows unspent (read with bounded concurrency). */
export async function walletFunds(ctx: ApiContext, addressText: string, utxoCbors: string[]): Promise<{ wallet: BuildWallet; unknown: number }> {
  const address = normalizeAddress(addressText, ctx.mainnet);
  const refs = utxoCbors.map(outRefOfUtxoCbor);
  const utxos = await ctx.chain.utxosByOutRef(refs);
  // A wallet may list outputs the chain has not confirmed yet (or already spent): only the chain's count.
  if (utxos.length === 0) throw new NtxError("WALLET_NO_UTXOS", "none of the wallet's UTxOs is on the chain yet: wait for its last transaction to confirm, or fund it");
  return { wallet: { address, utxos }, unknown: refs.length - utxos.length };
}

export async function buildWalletLock(ctx: ApiContext, request: { address: string; utxos: string[]; jobHash: string; expectedAmount?: string | undefined }) {
  const { match } = await verifiedMatch(ctx, request.jobHash);
  const amount = match.price;
  if (request.expectedAmount !== undefined && BigInt(request.expectedAmount) !== amount) {
    throw new NtxError("PRICE_MISMATCH", `the match costs ${amount} NTX base units, not the ${request.expectedAmount} shown: reload the job`, { details: { amount: amount.toString() } });
  }
  const existing = (await escrowsOfJob(ctx, request.jobHash)).filter((e) => e.funded);
  if (existing.length > 0) {
    throw new NtxError("ESCROW_EXISTS", `job ${request.jobHash} is already locked in ${existing.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`).join(", ")}`, { details: { escrows: existing.map(escrowView) } });
  }
  const { wallet, unknown } = await walletFunds(ctx, request.address, request.utxos);
  const unit = ntxUnit(ctx.script.ntx);
  const held = wallet.utxos.reduce((sum, u) => sum + (u.assets[unit] ?? 0n), 0n);
  if (held < amount) {
    throw new NtxError("INSUFFICIENT_NTX", `the wallet holds ${held} NTX base units; this job costs ${amount}`, { details: { held: held.toString(), amount: amount.toString() } });
  }
  const escrow = {
    payout: match.offer.payoutAddress,
    proofKey: match.offer.providerId,
    jobHash: request.jobHash,
    amount,
    deadline: match.bid.deadline,
    // The datum carries the bid's own terms: the provider refuses an escrow whose window or arbiter differ.
    challengeWindow: match.bid.terms.challengeWindowMs,
    ...(match.bid.terms.arbiter === undefined ? {} : { arbiter: match.bid.terms.arbiter }),
  };
  const tx = await ctx.builds.build("lock", { wallet, ntx: ctx.script.ntx, jobs: [escrow], now: ctx.now() }).catch(refineBuildError);
  return {
    ...tx,
    escrow: { ...escrow, amount: amount.toString(), address: ctx.script.address, outputIndex: 0, unit },
    ignoredUtxos: unknown,
  };
}

export async function payoutsOf(ctx: ApiContext, addressText: string) {
  const address = normalizeAddress(addressText, ctx.mainnet);
  const scan = await ctx.escrows.scan();
  const now = ctx.now();
  const mine = scan.escrows.filter((e) => e.datum.payout === address);
  return {
    address,
    now,
    escrows: mine.map((e) => {
      const view = escrowView(e);
      return { ...view, claimable: view.claimableAt !== undefined && view.claimableAt <= now };
    }),
  };
}

export async function buildWalletClaim(ctx: ApiContext, request: { address: string; utxos: string[]; escrows?: string[] | undefined }) {
  const address = normalizeAddress(request.address, ctx.mainnet);
  const [deployment, shared] = await Promise.all([ctx.deployment(), ctx.escrows.scan()]);
  let scan = shared;
  const now = ctx.now();
  const key = (e: EscrowUtxo) => `${e.utxo.txHash}#${e.utxo.outputIndex}`;
  let chosen: EscrowUtxo[];
  if (request.escrows) {
    // Named escrows the shared read (up to its TTL old) lacks may have just landed: read again once before saying no.
    if (request.escrows.some((ref) => !scan.escrows.some((x) => key(x) === ref))) scan = await ctx.escrows.scan(0);
    chosen = request.escrows.map((ref) => {
      const e = scan.escrows.find((x) => key(x) === ref);
      if (!e) throw new NtxError("ESCROW_NOT_FOUND", `escrow ${ref} is not on the chain (claimed already, or never locked)`);
      if (e.datum.payout !== address) throw new NtxError("INVALID_CLAIM", `escrow ${ref} does not pay ${address}`);
      return e;
    });
  } else {
    chosen = scan.escrows.filter((e) => e.datum.payout === address && e.datum.state.kind === "completed" && e.datum.state.completedAt + e.datum.challengeWindow <= now);
    if (chosen.length === 0) throw new NtxError("NOTHING_TO_CLAIM", "no completed escrow paying this address is past its challenge window");
  }
  const { wallet } = await walletFunds(ctx, address, request.utxos);
  const tx = await ctx.builds.build("claim", { wallet, ntx: ctx.script.ntx, refs: deploymentRefs(deployment), escrows: chosen, now }).catch(refineBuildError);
  return { ...tx, escrows: chosen.map(key), amount: chosen.reduce((s, e) => s + e.datum.amount, 0n).toString() };
}

/** Assembles the wallet's witness set into the transaction and submits it through the chain. */
export async function submitWalletTx(ctx: ApiContext, request: { tx: string; witnessSet: string }): Promise<{ txHash: string }> {
  // Lucid completes a signed tx only with some wallet selected; a read-only one, never asked to sign.
  const lucid = await ctx.chain.lucid({ address: ctx.script.address, utxos: [] });
  let signBuilder;
  try {
    signBuilder = lucid.fromTx(request.tx);
  } catch (error) {
    throw new NtxError("INVALID_TX", `tx is not a Cardano transaction in CBOR: ${(error as Error).message}`);
  }
  let signed;
  try {
    signed = await signBuilder.assemble([request.witnessSet]).complete();
  } catch (error) {
    throw new NtxError("TX_SIGN_FAILED", `the wallet's witness set does not fit this transaction: ${(error as Error).message}`);
  }
  const expected = signed.toHash();
  const jobs = lockedJobsOf(signed.toTransaction(), ctx);
  await ctx.locks.beforeSubmit(expected, jobs);
  let txHash: string;
  try {
    txHash = await ctx.chain.submit(signed.toCBOR());
  } catch (error) {
    ctx.locks.submitFailed(expected, jobs);
    throw error;
  }
  ctx.escrows.invalidate();
  if (txHash !== expected) throw new NtxError("CHAIN_UNAVAILABLE", `the chain answered tx hash ${txHash} for transaction ${expected}`, { retryable: false });
  return { txHash };
}

type SignBuilder = ReturnType<LucidEvolution["fromTx"]>;
type SignedTransaction = ReturnType<Awaited<ReturnType<ReturnType<SignBuilder["assemble"]>["complete"]>>["toTransaction"]>;

/** Job hashes of the escrow outputs a transaction creates (what the lock guard holds), read from its datums. */
function lockedJobsOf(tx: SignedTransaction, ctx: ApiContext): string[] {
  const outputs = tx.body().outputs();
  const jobs: string[] = [];
  for (let i = 0; i < outputs.len(); i++) {
    const output = outputs.get(i);
    if (output.address().to_bech32(undefined) !== ctx.script.address) continue;
    const datum = output.datum()?.as_datum();
    if (!datum) continue;
    try {
      const decoded = decodeEscrowDatum(datum.to_cbor_hex(), ctx.script.network);
      if (decoded.state.kind === "locked") jobs.push(decoded.jobHash);
    } catch (error) {
      if (!isNtxError(error)) throw error;
      // Not an escrow datum: the validator will never let it be spent as one, so it locks no job.
    }
  }
  return [...new Set(jobs)];
}
