/** Whole steps of a job over the API, as the page performs them, for tests that need a job at some stage. */
import { Wallet } from "ethers";
import { buildCompleteTx, escrowScriptFor, getEscrowUtxo, loadDeployment, signCompletionProof, submitTx } from "../../offchain/index.js";
import type { TestWallet } from "../helpers/wallet.js";
import { signWalletBid, unsignedWalletBid, walletKey } from "./bid-helpers.js";
import { http, waitFor, type Stack } from "./stack.js";

export async function bidAndMatch(stack: Stack, buyer: TestWallet): Promise<string> {
  const { bid, jobHash } = await signWalletBid(stack.api.url, buyer, unsignedWalletBid(buyer, await walletKey(buyer)));
  const posted = await http(stack.api.url, "POST", "/api/bids", bid);
  if (posted.status !== 202) throw new Error(`bid refused: ${JSON.stringify(posted.body)}`);
  await waitFor("the match", async () => (await http(stack.api.url, "GET", `/api/jobs/${jobHash}`)).body.match);
  return jobHash;
}

export async function lockViaApi(stack: Stack, buyer: TestWallet, jobHash: string): Promise<string> {
  const built = await http(stack.api.url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash });
  if (built.status !== 200) throw new Error(`lock refused: ${JSON.stringify(built.body)}`);
  const submitted = await http(stack.api.url, "POST", "/api/tx/submit", { tx: built.body.tx, witnessSet: await buyer.api.signTx(built.body.tx, true) });
  if (submitted.status !== 202) throw new Error(`submit refused: ${JSON.stringify(submitted.body)}`);
  await stack.chain.awaitConfirmation(submitted.body.txHash);
  return submitted.body.txHash as string;
}

/** The provider completes an escrow as its daemon does: EIP-712 proof, Complete tx from its own Cardano wallet. */
export async function completeAsProvider(stack: Stack, lockTxHash: string, resultHash: string): Promise<string> {
  const lucid = await stack.chain.lucid({ privateKey: stack.provider.cardanoKey });
  const script = escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
  const deployment = await loadDeployment(lucid, script, stack.referenceScript);
  const escrow = await getEscrowUtxo(lucid, script, { txHash: lockTxHash, outputIndex: 0 });
  const signature = await signCompletionProof(new Wallet(stack.provider.ethKey), { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
  return submitTx(lucid, await buildCompleteTx(lucid, { deployment, escrow, resultHash, signature, validForMs: 3_000 }));
}
