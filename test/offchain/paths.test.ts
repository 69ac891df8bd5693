import { describe, expect, it } from "vitest";
import { buildCompleteTx, buildClaimTx, getEscrowUtxo, signCompletionProof } from "../../offchain/index.js";
import { createEscrowWorld, randomHex } from "../helpers/emulator.js";

describe("escrow happy path (spike)", () => {
  it("locks, completes and claims", async () => {
    const w = await createEscrowWorld();
    const [escrow] = await w.lock([{}]);
    expect(escrow!.funded).toBe(true);
    const resultHash = randomHex(32);
    const signature = await signCompletionProof(w.proofWallet, { escrowRef: escrow!.escrowRef, jobHash: escrow!.datum.jobHash, resultHash });
    const tx = await buildCompleteTx(w.as("provider"), { deployment: w.deployment, escrow: escrow!, resultHash, signature, now: w.emulator.now() });
    const h = await w.submit("provider", tx);
    const completed = await getEscrowUtxo(w.lucid, w.script, { txHash: h, outputIndex: 0 });
    expect(completed.datum.state.kind).toBe("completed");
    w.emulator.awaitSlot(1000);
    const before = await w.balance("provider", w.ntxUnit);
    const claim = await buildClaimTx(w.as("provider"), { deployment: w.deployment, escrows: [completed], now: w.emulator.now() });
    await w.submit("provider", claim);
    expect(await w.balance("provider", w.ntxUnit)).toBe(before + 50_000_000n);
  });
});
