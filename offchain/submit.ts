import type { LucidEvolution, TxSignBuilder } from "@lucid-evolution/lucid";
import { NtxError } from "./errors.js";

export interface SubmitOptions {
  /** Sign with the Lucid instance's selected wallet (default true). */
  withWallet?: boolean;
  /** Extra payment private keys (bech32 ed25519_sk) to sign with, e.g. a co-signer held by the same process. */
  privateKeys?: string[];
  /** Witness sets (CBOR hex) other parties made with `tx.partialSign`, e.g. the provider's for a cancel. */
  witnesses?: string[];
  /** Wait until the transaction is in a block (default true). */
  awaitConfirmation?: boolean;
}

/** Signs, submits and (by default) awaits confirmation of a transaction a builder made; returns its hash. */
export async function submitTx(lucid: LucidEvolution, tx: TxSignBuilder, options: SubmitOptions = {}): Promise<string> {
  let signing = tx;
  if (options.withWallet ?? true) signing = signing.sign.withWallet();
  for (const key of options.privateKeys ?? []) signing = signing.sign.withPrivateKey(key);
  let signed;
  try {
    signed = options.witnesses?.length ? await signing.assemble(options.witnesses).complete() : await signing.complete();
  } catch (cause) {
    throw new NtxError("TX_SIGN_FAILED", `signing failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  // A build that held this thread longer than the server's keep-alive timeout (5 s for Node's HTTP server; a batch
  // claim's local evaluation takes longer) leaves pooled sockets that the server has closed, unnoticed: letting the
  // event loop poll once lets the HTTP client see those closes before it picks a socket for the submission (else:
  // "fetch failed", and no retry for a POST). Two immediates have at least one poll phase between them.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  let txHash: string;
  try {
    txHash = await signed.submit();
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    // A node rejecting the transaction is final; failing to reach one is not.
    // An input spent meanwhile (the node's BadInputsUTxO, the devnet's spent_input) is final for this transaction
    // and not for what it does: built again from current UTxOs, it may go through.
    if (/BadInputsUTxO|spent_input|already spent/i.test(message)) throw new NtxError("TX_INPUTS_SPENT", `submit failed: ${message}`, { retryable: true, cause });
    const rejected = /invalid|reject|missing|insufficient|BadInputs|ValueNotConserved|Utxo/i.test(message);
    throw new NtxError("TX_SUBMIT_FAILED", `submit failed: ${message}`, { retryable: !rejected, cause });
  }
  if (options.awaitConfirmation ?? true) {
    const confirmed = await lucid.awaitTx(txHash);
    if (!confirmed) throw new NtxError("TX_NOT_CONFIRMED", `transaction ${txHash} was not confirmed`, { retryable: true });
  }
  return txHash;
}
