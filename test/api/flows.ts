/** Whole steps of a job over the API, as the page performs them, for tests that need a job at some stage. */
import { Wallet } from "ethers";
import { randomBytes } from "node:crypto";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { buildCompleteTx, encodeEscrowDatum, escrowScript, escrowScriptFor, getEscrowUtxo, loadDeployment, ntxUnit, signCompletionProof, submitTx, type EscrowDatum } from "../../offchain/index.js";
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

/**
 * `count` escrows already Completed and past their challenge window, paying the stack's provider, written by hand
 * at the script address in one transaction (no lock/complete builders): material for claim builds. Returns their
 * out-refs. Also funds the provider's wallet for the min-ADA of the NTX outputs a claim makes.
 */
export async function writeClaimableEscrows(stack: Stack, count: number): Promise<string[]> {
  const ntx = { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName };
  const script = escrowScript(ntx, "Custom");
  const funderKey = newPrivateKey();
  await stack.devnet.fund(addressOfPrivateKey(funderKey, "devnet"), BigInt(count) * 4_000_000n + 50_000_000n, BigInt(count) * 1_000n);
  await stack.devnet.fund(stack.provider.payoutAddress, BigInt(count) * 4_000_000n + 50_000_000n);
  const funder = await stack.chain.lucid({ privateKey: funderKey });
  const now = Date.now();
  let tx = funder.newTx();
  for (let i = 0; i < count; i++) {
    const datum: EscrowDatum = {
      state: { kind: "completed", resultHash: randomBytes(32).toString("hex"), completedAt: now - 120_000 },
      requester: "ab".repeat(28),
      payout: stack.provider.payoutAddress,
      proofKey: `02${"cd".repeat(32)}`,
      jobHash: randomBytes(32).toString("hex"),
      amount: 1_000n,
      deadline: now + 3_600_000,
      challengeWindow: 1_000,
      arbiter: null,
    };
    tx = tx.pay.ToContract(script.address, { kind: "inline", value: encodeEscrowDatum(datum) }, { lovelace: 3_000_000n, [ntxUnit(ntx)]: 1_000n });
  }
  const signed = await (await tx.complete()).sign.withWallet().complete();
  const txHash = await stack.chain.submit(signed.toCBOR());
  await stack.chain.awaitConfirmation(txHash);
  return Array.from({ length: count }, (_, i) => `${txHash}#${i}`);
}
