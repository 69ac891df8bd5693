import {
  buildLeaseDeployTx,
  buildLeaseOpenTx,
  encodeLeaseDatum,
  onChainTime,
  getLeaseUtxo,
  leaseScript,
  loadLeaseDeployment,
  type LeaseDeployment,
  type LeaseOpenParams,
  type LeaseScript,
  type LeaseUtxo,
} from "../../offchain/index.js";
import { TEST_NTX, createEscrowWorld, type EscrowWorld, type Role } from "./emulator.js";

/*
 * A lease world: the escrow world's parties and assets (real test NTX and a look-alike under another policy) on
 * Lucid's Emulator with local UPLC evaluation, plus the lease script deployed as a reference script. The requester
 * is the buyer; the provider is paid at its wallet address.
 */

export interface LeaseWorld extends EscrowWorld {
  lease: LeaseScript;
  leaseDeployment: LeaseDeployment;
  /** Opens a lease from the buyer (requester) to the provider; returns it as read back from the chain. */
  open(overrides?: Partial<LeaseOpenParams>, as?: Role): Promise<LeaseUtxo>;
  /** Opens several leases in one transaction (outputs 0..n-1). */
  openMany(n: number, overrides?: Partial<LeaseOpenParams>): Promise<LeaseUtxo[]>;
  reread(lease: LeaseUtxo | { txHash: string; outputIndex: number }): Promise<LeaseUtxo>;
}

/** 1,000 base units a second, one hour's deposit, a ten-minute notice. */
export const LEASE_RATE = 1_000n;

/** The service job the world's leases pay for, unless a test names another. */
export const LEASE_JOB = "5e".repeat(32);

export async function createLeaseWorld(): Promise<LeaseWorld> {
  const w = await createEscrowWorld();
  const lease = leaseScript("Custom");
  const deployHash = await w.submit("outsider", await buildLeaseDeployTx(w.as("outsider"), { script: lease }));
  const leaseDeployment = await loadLeaseDeployment(w.lucid, lease, { txHash: deployHash, outputIndex: 0 });
  const params = (overrides: Partial<LeaseOpenParams>): LeaseOpenParams => ({
    script: lease,
    provider: w.parties.provider.address,
    asset: TEST_NTX,
    rate: LEASE_RATE,
    durationMs: 3_600_000,
    notice: 600_000,
    jobHash: LEASE_JOB,
    now: w.emulator.now(),
    validForMs: 20_000,
    ...overrides,
  });
  const reread = (l: LeaseUtxo | { txHash: string; outputIndex: number }) =>
    getLeaseUtxo(w.lucid, lease, "utxo" in l ? l.utxo : l);
  return Object.assign(w, {
    lease,
    leaseDeployment,
    reread,
    async open(overrides: Partial<LeaseOpenParams> = {}, as: Role = "requester") {
      const txHash = await w.submit(as, await buildLeaseOpenTx(w.as(as), params(overrides)));
      return reread({ txHash, outputIndex: 0 });
    },
    async openMany(n: number, overrides: Partial<LeaseOpenParams> = {}) {
      // Several identical leases from one buyer in one transaction (a pool operator renting a relay fleet): the same
      // datum and value each, the case double satisfaction would exploit.
      const p = params(overrides);
      const lastClaim = onChainTime(w.lucid, p.now! + p.validForMs!);
      const deposit = (p.rate * BigInt(p.durationMs!)) / 1000n;
      const datum = encodeLeaseDatum({
        buyer: w.parties.requester.keyHash,
        provider: p.provider,
        asset: p.asset,
        rate: p.rate,
        lastClaim,
        end: lastClaim + p.durationMs!,
        notice: p.notice,
        jobHash: p.jobHash,
      });
      let tx = w.as("requester").newTx();
      for (let i = 0; i < n; i++) tx = tx.pay.ToContract(lease.address, { kind: "inline", value: datum }, { lovelace: 3_000_000n, [w.ntxUnit]: deposit });
      const txHash = await w.submit("requester", await tx.validTo(p.now! + p.validForMs!).complete());
      return Promise.all(Array.from({ length: n }, (_, i) => reread({ txHash, outputIndex: i })));
    },
  }) as LeaseWorld;
}
