import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { readEscrowUtxos, type EscrowUtxo } from "../../offchain/index.js";
import { createLucidEscrowGateway } from "../../src/provider/chain/escrow-gateway.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { JobPhase, JobStateStore } from "../../src/provider/state-store.js";
import { createTxBuildPool } from "../../src/runtime/tx-pool/pool.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { devnetClaimWorld, ntxAt, payClaimableEscrows, storeCompletedJobs, type DevnetClaimWorld } from "../helpers/devnet-escrows.js";

/*
 * A provider whose wallet cannot pay for a claim right now: its ADA spread over outputs too small for Lucid to cover
 * the 5-ADA collateral with three inputs (what a wallet looks like while its one large output is held by a
 * transaction not yet in a block, or after many small payouts). Nothing here is wrapped: the real daemon, gateway,
 * build thread and Lucid's own collateral selection against a devnet chain that evaluates every script. The claim
 * must be deferred as it is, pass after pass, never given up; once the wallet is funded, every escrow is paid
 * exactly once.
 */

let devnet: TestDevnet;
let world: DevnetClaimWorld;
let dir: string;

beforeAll(async () => {
  devnet = await startTestDevnet({ blockTimeMs: 500 });
  world = await devnetClaimWorld(devnet);
  dir = await mkdtemp(join(tmpdir(), "ntx-claim-wallet-dry-"));
}, 120_000);

afterAll(async () => {
  await devnet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const refOf = (e: EscrowUtxo) => `${e.utxo.txHash}#${e.utxo.outputIndex}`;

describe("a provider wallet that cannot pay for its claim", () => {
  it("defers the claim pass after pass without giving up, and pays every escrow once when funded", async () => {
    const escrows = await payClaimableEscrows(devnet, world, 3);
    // The claiming wallet: twelve outputs of 1.3 ADA, enough in all for fees, but covering 5 ADA of collateral
    // takes four of them, one more than a transaction may name.
    const key = newPrivateKey();
    const address = addressOfPrivateKey(key, "devnet");
    for (let i = 0; i < 12; i++) await devnet.fund(address, 1_300_000n);
    await devnet.block();
    const lucid = await world.chain.lucid({ privateKey: key });
    expect((await lucid.wallet().getUtxos()).length).toBe(12);

    const pool = createTxBuildPool(world.chain, { workers: 1, queue: 2, timeoutMs: 300_000 });
    const gateway = createLucidEscrowGateway({ lucid, deployment: world.deployment, claimBuilds: pool });
    const store = await JobStateStore.open(dir);
    const now = Date.now();
    await storeCompletedJobs(store, escrows, now);
    const reports: NtxError[] = [];
    const daemon = new ProviderDaemon({
      runner: new NoopRunner(),
      gateway,
      store,
      proofKey: proofKeyFromHex(randomBytes(32).toString("hex")),
      payoutAddress: world.address,
      onError: (error) => void (error instanceof NtxError && reports.push(error)),
    });
    const before = await ntxAt(world, world.address);
    try {
      // More passes than a claim that fails for itself gets before it is given up.
      for (let pass = 0; pass < 5; pass++) expect(await daemon.claimDue()).toEqual([]);
      const codes = reports.map((r) => r.code);
      expect(codes.filter((c) => c === "CLAIM_DEFERRED")).toHaveLength(5);
      expect(codes).not.toContain("CLAIM_SET_ASIDE");
      expect(codes).not.toContain("CLAIM_BATCH_SPLIT");
      // Lucid's own collateral selection said so (not a pre-check of ours).
      expect(reports.find((r) => r.code === "CLAIM_DEFERRED")!.message).toMatch(/inputs as collateral, but max collateral inputs is 3/);

      await devnet.fund(address, 20_000_000n);
      await devnet.block();
      const claimed = await daemon.claimDue();
      expect(claimed).toHaveLength(1);
      await world.chain.awaitConfirmation(claimed[0]!.txHash);
    } finally {
      await pool.close();
    }
    const left = new Set((await readEscrowUtxos(world.lucid, world.deployment.script)).escrows.map(refOf));
    for (const e of escrows) expect(left.has(refOf(e))).toBe(false);
    expect((await ntxAt(world, world.address)) - before).toBe(escrows.reduce((sum, e) => sum + e.datum.amount, 0n));
    for (const e of escrows) expect(store.get(e.datum.jobHash)!.observed.phase).toBe(JobPhase.Settled);
  }, 240_000);
});
