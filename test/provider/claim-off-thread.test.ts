import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { encodeEscrowDatum, readEscrowUtxos, submitTx, type EscrowUtxo } from "../../offchain/index.js";
import { compressedProofKey, escrowRef, signCompletionProof } from "../../offchain/proof.js";
import { connectNats, type NatsConnection } from "../../src/nats/index.js";
import { toObserved } from "../../src/provider/chain/escrow-gateway.js";
import { parseProviderConfig, type ProviderConfig } from "../../src/provider/config.js";
import { openChainGateway } from "../../src/provider/node.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { devnetClaimWorld, ntxAt, payClaimableEscrows, type DevnetClaimWorld } from "../helpers/devnet-escrows.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

/*
 * The provider daemon's claims are built on its build thread (the tx-build pool the API uses), not on the thread
 * that answers NATS: while a 40-escrow claim is being built and its scripts evaluated, the daemon's connection keeps
 * answering the server's round trips. Wired exactly as `ntx provider start` wires it (openChainGateway with
 * claimsOffThread), against a devnet chain server that evaluates every script again on submit. Whether the loop
 * stays responsive is counted here, never timed (bench:provider measures the lag).
 */

let devnet: TestDevnet;
let nats: NatsServer;
let nc: NatsConnection;
let world: DevnetClaimWorld;

function providerConfig(w: DevnetClaimWorld, claimBuildTimeoutMs: number): ProviderConfig {
  return parseProviderConfig({
    prices: { cpuCoreHour: "1", memoryGiBHour: "1", diskGiBHour: "1", gpuHour: "1" },
    images: ["ntx-test/busybox:1"],
    keys: { proofKeyFile: "/nonexistent/proof.key", paymentKeyFile: "/nonexistent/payment.key" },
    limits: { maxCpuCores: 1, maxMemoryMiB: 64, claimBuildTimeoutMs },
    network: "devnet",
    chainUrl: devnet.url,
    escrow: {
      referenceScript: `${w.deployTxHash}#0`,
      ntx: { policyId: w.deployment.script.ntx.policyId, assetName: w.deployment.script.ntx.assetName },
    },
  });
}

beforeAll(async () => {
  devnet = await startTestDevnet({ blockTimeMs: 1000 });
  nats = await startNatsServer();
  nc = await connectNats({ servers: nats.url, name: "claim-off-thread" });
  world = await devnetClaimWorld(devnet);
}, 120_000);

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await nats?.stop();
  await devnet?.stop();
});

/** A Locked escrow for `proof`'s key, paid by hand (a raw payment to the script with an inline datum). */
async function lockByHand(proof: Wallet): Promise<EscrowUtxo> {
  const jobHash = randomBytes(32).toString("hex");
  const datum = encodeEscrowDatum({
    requester: randomBytes(28).toString("hex"),
    payout: world.address,
    proofKey: compressedProofKey(proof.privateKey),
    jobHash,
    amount: 5_000n,
    deadline: Date.now() + 3_600_000,
    challengeWindow: 1_000,
    arbiter: null,
    state: { kind: "locked" },
  });
  const tx = await world.lucid.newTx().pay.ToContract(world.deployment.script.address, { kind: "inline", value: datum }, { lovelace: 3_000_000n, [world.ntxUnit]: 5_000n }).complete();
  const txHash = await submitTx(world.lucid, tx, { awaitConfirmation: false });
  await devnet.block();
  await world.chain.awaitConfirmation(txHash);
  return (await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.find((e) => e.datum.jobHash === jobHash)!;
}

describe("provider Completes off the event loop", () => {
  it("builds a Complete on the build thread: over its timeout it is BUILD_TIMEOUT and spends nothing; in time the escrow is Completed", async () => {
    const proof = new Wallet(Wallet.createRandom().privateKey);
    const escrow = await lockByHand(proof);
    const resultHash = randomBytes(32).toString("hex");
    const signature = await signCompletionProof(proof, { escrowRef: escrowRef({ txHash: escrow.utxo.txHash, outputIndex: escrow.utxo.outputIndex }), jobHash: escrow.datum.jobHash, resultHash });
    const complete = { escrow: toObserved(escrow, 0n), resultHash, signature };

    const hurried = await openChainGateway(providerConfig(world, 1), world.key, {}, { claimsOffThread: true });
    try {
      const error = await hurried.gateway.submitComplete(complete).catch((e: unknown) => e);
      // Only a build on the pool has a timeout: on the calling thread the build would have gone through.
      expect(isNtxError(error, "BUILD_TIMEOUT")).toBe(true);
    } finally {
      await hurried.close();
    }
    const stillLocked = (await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.find((e) => e.datum.jobHash === escrow.datum.jobHash);
    expect(stillLocked?.datum.state.kind).toBe("locked");

    const open = await openChainGateway(providerConfig(world, 600_000), world.key, {}, { claimsOffThread: true });
    try {
      const { txHash, completed } = await open.gateway.submitComplete(complete);
      expect(completed.txHash).toBe(txHash);
    } finally {
      await open.close();
    }
    const after = (await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.filter((e) => e.datum.jobHash === escrow.datum.jobHash);
    expect(after.map((e) => e.datum.state.kind)).toEqual(["completed"]);
    const state = after[0]!.datum.state;
    if (state.kind === "completed") expect(state.resultHash).toBe(resultHash);
    expect(after[0]!.ntxHeld).toBe(5_000n);
  }, 300_000);
});

describe("provider claims off the event loop", () => {
  it("a claim build over its timeout is refused as BUILD_TIMEOUT (retryable) and spends nothing", async () => {
    const escrows = await payClaimableEscrows(devnet, world, 3);
    const { gateway, close } = await openChainGateway(providerConfig(world, 1), world.key, {}, { claimsOffThread: true });
    try {
      const error = await gateway.submitClaim(escrows.map((e) => toObserved(e, 0n))).catch((e: unknown) => e);
      expect(isNtxError(error, "BUILD_TIMEOUT")).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
    } finally {
      await close();
    }
    const still = new Set((await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`));
    for (const e of escrows) expect(still.has(`${e.utxo.txHash}#${e.utxo.outputIndex}`)).toBe(true);
  }, 180_000);

  it("builds a 40-escrow claim on its build thread while NATS round trips keep being answered; every escrow paid", async () => {
    const escrows = await payClaimableEscrows(devnet, world, 40);
    const open = await openChainGateway(providerConfig(world, 600_000), world.key, {}, { claimsOffThread: true });
    const pool = open.claimBuilds!;
    expect(pool).toBeDefined();
    const before = await ntxAt(world, world.address);
    let settled = false;
    const claim = open.gateway.submitClaim(escrows.map((e) => toObserved(e, 0n))).finally(() => (settled = true));
    // A round trip counts only when it is answered while the build is still running on the pool's thread.
    let answeredDuringBuild = 0;
    let sawBuild = false;
    try {
      while (!settled) {
        if (pool.load().running === 0) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        sawBuild = true;
        await nc.flush();
        if (pool.load().running > 0) answeredDuringBuild++;
        await new Promise((r) => setTimeout(r, 10));
      }
      const { txHash } = await claim;
      expect(txHash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await open.close();
    }
    expect(sawBuild).toBe(true);
    expect(answeredDuringBuild).toBeGreaterThanOrEqual(3);
    const left = new Set((await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`));
    for (const e of escrows) expect(left.has(`${e.utxo.txHash}#${e.utxo.outputIndex}`)).toBe(false);
    const owed = escrows.reduce((sum, e) => sum + e.datum.amount, 0n);
    expect((await ntxAt(world, world.address)) - before).toBe(owed);
  }, 600_000);
});
