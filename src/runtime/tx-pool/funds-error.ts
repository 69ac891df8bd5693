/**
 * Lucid Evolution reports a wallet that cannot pay for a transaction only in prose: coin selection ("UTxO Balance
 * Insufficient", "not enough funds") and collateral selection ("does not have enough funds to cover the required
 * … collateral", "Selected 6 inputs as collateral, but max collateral inputs is 3"). These say something about the
 * wallet at this moment (too little ADA, or spread over many small outputs, or its large output held by a
 * transaction not yet in a block), nothing about what the transaction spends. One reading of them for every caller.
 */
import { NtxError } from "../../../offchain/errors.js";

const WALLET_CANNOT_PAY = /insufficient|not (have )?enough|exhausted|balance|collateral/i;

export function isWalletFundsFailure(error: unknown): boolean {
  // A build thread's failure arrives as TX_BUILD_FAILED; one built on the caller's thread as Lucid's own error.
  const fromBuild = error instanceof NtxError ? error.code === "TX_BUILD_FAILED" : error instanceof Error;
  return fromBuild && WALLET_CANNOT_PAY.test((error as Error).message);
}

/** The same failure under the code callers show and branch on. */
export function walletFundsError(error: Error): NtxError {
  return new NtxError("INSUFFICIENT_FUNDS", `the wallet cannot pay for this transaction (ADA for fees, min-ADA and collateral, or NTX): ${error.message}`, { cause: error });
}
