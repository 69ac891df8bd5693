import { afterEach, describe, expect, it } from "vitest";
import {
  buildLeaseClaimTx,
  buildLeaseCloseTx,
  buildLeaseOpenTx,
  getLeaseUtxo,
  leaseScriptFor,
  onChainTime,
  readLeases,
  submitTx,
  type LeaseDeployment,
} from "../../offchain/index.js";
import { fundedParty, startTestDevnet, type DevnetParty, type TestDevnet } from "../helpers/devnet.js";

/*
 * A lease on the devnet chain server over HTTP, in real time (1 s blocks): buyer and provider are separate clients,
 * every script runs in the client's local evaluation and again in the server's before it accepts the transaction.
 * The script is attached inline (no reference deployment), the other path the builders take. Real time and
 * validity windows make it timing-sensitive: NTX_HEAVY=1 only.
 */

const HEAVY = process.env.NTX_HEAVY === "1";

type Party = DevnetParty;

const sleepUntil = async (time: number) => {
  while (Date.now() < time) await new Promise((r) => setTimeout(r, Math.min(250, time - Date.now())));
};

describe.skipIf(!HEAVY)("lease lifecycle over HTTP on the devnet chain", () => {
  let devnet: TestDevnet | undefined;
  afterEach(async () => {
    await devnet?.stop();
    devnet = undefined;
  });

  it("claims pay exactly rate × elapsed against chain balances, and close refunds the rest", async () => {
    devnet = await startTestDevnet({ blockTimeMs: 1000 });
    const [buyer, provider] = await Promise.all([fundedParty(devnet, 100_000_000n, 10_000_000n), fundedParty(devnet, 50_000_000n, 0n)]);
    const asset = { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName };
    const unit = devnet.info.ntx.unit;
    const ntxOf = async (p: Party) => (await p.chain.utxosAt(p.address)).reduce((a, u) => a + (u.assets[unit] ?? 0n), 0n);
    const deployment: LeaseDeployment = { script: leaseScriptFor(buyer.lucid) };

    const rate = 1_000n;
    const openHash = await submitTx(
      buyer.lucid,
      await buildLeaseOpenTx(buyer.lucid, { script: deployment.script, provider: provider.address, asset, rate, durationMs: 3_600_000, notice: 600_000, jobHash: "1e".repeat(32), validForMs: 20_000 }),
    );
    const opened = await getLeaseUtxo(provider.lucid, deployment.script, { txHash: openHash, outputIndex: 0 });
    expect(opened.balance).toBe(rate * 3_600n);

    let lease = opened;
    let paid = 0n;
    for (let round = 0; round < 2; round++) {
      await sleepUntil(lease.datum.lastClaim + 4_000);
      const before = await ntxOf(provider);
      const now = Date.now();
      await submitTx(provider.lucid, await buildLeaseClaimTx(provider.lucid, { deployment, leases: [lease], now }));
      const t = onChainTime(provider.lucid, now);
      const owed = (rate * BigInt(t - lease.datum.lastClaim)) / 1000n;
      expect((await ntxOf(provider)) - before).toBe(owed);
      paid += owed;
      const [next] = (await readLeases(provider.lucid, deployment.script, { provider: provider.address, asset })).leases;
      expect(next!.datum.lastClaim).toBe(t);
      expect(next!.balance).toBe(opened.balance - paid);
      lease = next!;
    }

    const buyerBefore = await ntxOf(buyer);
    const providerBefore = await ntxOf(provider);
    const now = Date.now();
    await submitTx(buyer.lucid, await buildLeaseCloseTx(buyer.lucid, { deployment, lease, now, validForMs: 60_000 }));
    const owed = (rate * BigInt(onChainTime(buyer.lucid, onChainTime(buyer.lucid, now) + 60_000) - lease.datum.lastClaim)) / 1000n;
    expect((await ntxOf(provider)) - providerBefore).toBe(owed);
    expect((await ntxOf(buyer)) - buyerBefore).toBe(lease.balance - owed);
    expect((await readLeases(buyer.lucid, deployment.script)).leases).toHaveLength(0);
  }, 240_000);
});
