import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import type { Chain, LucidEvolution } from "../../offchain/chain/index.js";
import {
  buildClaimTx,
  buildCompleteTx,
  buildDeployReferenceScriptTx,
  buildLockTx,
  buildRefundTx,
  compressedProofKey,
  escrowScriptFor,
  getEscrowUtxo,
  loadDeployment,
  signCompletionProof,
  submitTx,
  type EscrowDeployment,
  type EscrowScript,
} from "../../offchain/index.js";
import { fundedParty, startTestDevnet, type TestDevnet } from "../helpers/devnet.js";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const sleepUntil = async (time: number) => {
  while (Date.now() < time) await new Promise((r) => setTimeout(r, Math.min(250, time - Date.now())));
};

interface Party {
  key: string;
  address: string;
  chain: Chain;
  lucid: LucidEvolution;
}

// The escrow lifecycle as the product runs it: buyer and provider are separate clients (their own chain
// interface, Lucid on the Blockfrost provider, blockfrost-js), the devnet chain server makes 1 s blocks, and every
// script runs twice — in the client's local evaluation and in the server's own before it accepts the transaction.
describe.each([
  { restart: false, mode: "in-process" as const },
  { restart: true, mode: "child" as const },
])("escrow lifecycle over HTTP (server restarted after lock: $restart)", ({ restart, mode }) => {
  let devnet: TestDevnet | undefined;
  afterEach(async () => {
    await devnet?.stop();
    devnet = undefined;
  });

  const setup = async () => {
    devnet = await startTestDevnet({ mode, blockTimeMs: 1000 });
    const party = (lovelace: bigint, ntx: bigint): Promise<Party> => fundedParty(devnet!, lovelace, ntx);
    const [buyer, provider] = await Promise.all([party(100_000_000n, 10_000n), party(50_000_000n, 0n)]);
    const ntx = { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName };
    const script = escrowScriptFor(buyer.lucid, ntx);
    const deployHash = await submitTx(buyer.lucid, await buildDeployReferenceScriptTx(buyer.lucid, { script }));
    // The provider finds the deployment on its own, through its own client.
    const deployment = await loadDeployment(provider.lucid, escrowScriptFor(provider.lucid, ntx), { txHash: deployHash, outputIndex: 0 });
    return { buyer, provider, script, deployment, unit: devnet.info.ntx.unit };
  };

  const ntxOf = async (p: Party, unit: string) => (await p.chain.utxosAt(p.address)).reduce((a, u) => a + (u.assets[unit] ?? 0n), 0n);

  const lock = async (buyer: Party, provider: Party, script: EscrowScript, proofKey: string, amount: bigint, deadline: number, challengeWindow: number) => {
    const tx = await buildLockTx(buyer.lucid, { script, jobs: [{ payout: provider.address, proofKey, jobHash: hex(32), amount, deadline, challengeWindow }] });
    return submitTx(buyer.lucid, tx);
  };

  const maybeRestart = async (deployment: EscrowDeployment, lockHash: string) => {
    if (!restart) return;
    await devnet!.restart();
    // Everything from before the restart is still there: the lock, the reference script, the block height.
    const chain = devnet!.chain();
    expect((await chain.txStatus(lockHash)).state).toBe("confirmed");
    expect((await chain.utxosAt(deployment.referenceUtxo.address)).map((u) => u.txHash)).toContain(deployment.referenceUtxo.txHash);
  };

  it("lock → complete (provider's EIP-712 proof) → claim after the challenge window", async () => {
    const { buyer, provider, script, deployment, unit } = await setup();
    const proofWallet = Wallet.createRandom();
    const buyerNtx = await ntxOf(buyer, unit);
    const lockHash = await lock(buyer, provider, script, compressedProofKey(proofWallet.signingKey), 2_500n, Date.now() + 300_000, 2_000);
    const heightBefore = (await buyer.chain.tip()).height;

    await maybeRestart(deployment, lockHash);
    if (restart) expect((await provider.chain.tip()).height).toBeGreaterThanOrEqual(heightBefore);

    // The provider sees the funded escrow through its own client and completes it.
    const escrow = await getEscrowUtxo(provider.lucid, script, { txHash: lockHash, outputIndex: 0 });
    expect(escrow.funded).toBe(true);
    expect(escrow.datum.state.kind).toBe("locked");
    const resultHash = hex(32);
    const signature = await signCompletionProof(proofWallet, { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
    const completeHash = await submitTx(provider.lucid, await buildCompleteTx(provider.lucid, { deployment, escrow, resultHash, signature, validForMs: 4_000 }));

    const completed = await getEscrowUtxo(buyer.lucid, script, { txHash: completeHash, outputIndex: 0 });
    expect(completed.datum.state).toMatchObject({ kind: "completed", resultHash });
    if (completed.datum.state.kind !== "completed") throw new Error("unreachable");
    await sleepUntil(completed.datum.state.completedAt + completed.datum.challengeWindow + 1_500);

    const claimHash = await submitTx(provider.lucid, await buildClaimTx(provider.lucid, { deployment, escrows: [completed] }));
    expect(await ntxOf(provider, unit)).toBe(2_500n);
    expect(await ntxOf(buyer, unit)).toBe(buyerNtx - 2_500n);
    const payouts = await provider.chain.payoutsTo(provider.address, { unit });
    expect(payouts.map((p) => [p.txHash, p.assets[unit]])).toEqual([[claimHash, 2_500n]]);
    expect(await buyer.chain.utxosAt(script.address)).toEqual([]);
  });

  it("lock → refund to the buyer after the deadline", async () => {
    const { buyer, provider, script, deployment, unit } = await setup();
    const buyerNtx = await ntxOf(buyer, unit);
    const deadline = Date.now() + 8_000;
    const lockHash = await lock(buyer, provider, script, compressedProofKey(Wallet.createRandom().signingKey), 1_000n, deadline, 60_000);
    expect(await ntxOf(buyer, unit)).toBe(buyerNtx - 1_000n);

    await maybeRestart(deployment, lockHash);

    const escrow = await getEscrowUtxo(buyer.lucid, script, { txHash: lockHash, outputIndex: 0 });
    await sleepUntil(deadline + 1_500);
    await submitTx(buyer.lucid, await buildRefundTx(buyer.lucid, { deployment, escrow }));
    expect(await ntxOf(buyer, unit)).toBe(buyerNtx);
    expect(await provider.chain.payoutsTo(provider.address, { unit })).toEqual([]);
    expect(await buyer.chain.utxosAt(script.address)).toEqual([]);
  });
});
