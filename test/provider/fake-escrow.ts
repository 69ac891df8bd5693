import { randomBytes } from "node:crypto";
import { escrowRef, verifyCompletionProof } from "../../offchain/proof.js";
import type { EscrowGateway, ObservedEscrow, OutRef } from "../../src/provider/types.js";

/**
 * An in-memory escrow for unit tests of the daemon's decisions. It enforces what the validator enforces that
 * matters to those decisions (a valid proof by the datum's key, Completed before the deadline, claims only
 * after the challenge window, a spent output cannot be spent again); the real validator is exercised by the
 * devnet end-to-end test.
 */
export class FakeEscrow implements EscrowGateway {
  time = 1_000_000;
  readonly utxos = new Map<string, ObservedEscrow>();
  readonly paid = new Map<string, bigint>();
  completes = 0;
  claims: string[][] = [];
  /** Makes the next call of that name throw after the chain has applied it (a crash between submit and save). */
  crashAfter: "complete" | "claim" | undefined;

  private key(ref: OutRef): string {
    return `${ref.txHash}#${ref.outputIndex}`;
  }

  lock(e: Omit<ObservedEscrow, "outRef" | "state" | "arbiter" | "lovelace" | "minLovelace"> & Partial<Pick<ObservedEscrow, "state" | "arbiter" | "lovelace" | "minLovelace">>): ObservedEscrow {
    const escrow: ObservedEscrow = { arbiter: null, lovelace: 3_000_000n, minLovelace: 2_000_000n, ...e, state: e.state ?? { kind: "locked" }, outRef: { txHash: randomBytes(32).toString("hex"), outputIndex: 0 } };
    this.utxos.set(this.key(escrow.outRef), escrow);
    return escrow;
  }

  spend(ref: OutRef): void {
    this.utxos.delete(this.key(ref));
  }

  async findEscrows(jobHash: string): Promise<ObservedEscrow[]> {
    return [...this.utxos.values()].filter((e) => e.jobHash === jobHash).map((e) => structuredClone(e));
  }

  async getEscrow(ref: OutRef): Promise<ObservedEscrow | null> {
    const e = this.utxos.get(this.key(ref));
    return e ? structuredClone(e) : null;
  }

  async now(): Promise<number> {
    return this.time;
  }

  async submitComplete(params: { escrow: ObservedEscrow; resultHash: string; signature: string }) {
    const e = this.utxos.get(this.key(params.escrow.outRef));
    if (!e || e.state.kind !== "locked") throw new Error("escrow not locked / already spent");
    if (this.time >= e.deadline) throw new Error("past deadline");
    const fields = { escrowRef: escrowRef(e.outRef), jobHash: e.jobHash, resultHash: params.resultHash };
    if (!verifyCompletionProof(fields, params.signature, e.proofKey)) throw new Error("bad completion proof");
    this.utxos.delete(this.key(e.outRef));
    const txHash = randomBytes(32).toString("hex");
    const completed: ObservedEscrow = { ...e, outRef: { txHash, outputIndex: 0 }, state: { kind: "completed", resultHash: params.resultHash, completedAt: this.time } };
    this.utxos.set(this.key(completed.outRef), completed);
    this.completes++;
    if (this.crashAfter === "complete") { this.crashAfter = undefined; throw new Error("crash after complete"); }
    return { txHash, completed: completed.outRef };
  }

  async submitClaim(escrows: readonly ObservedEscrow[]) {
    for (const x of escrows) {
      const e = this.utxos.get(this.key(x.outRef));
      if (!e || e.state.kind !== "completed") throw new Error("not claimable");
      if (this.time <= e.state.completedAt + e.challengeWindow) throw new Error("challenge window still open");
    }
    for (const x of escrows) {
      this.utxos.delete(this.key(x.outRef));
      this.paid.set(x.payout, (this.paid.get(x.payout) ?? 0n) + x.amount);
    }
    this.claims.push(escrows.map((e) => e.jobHash));
    const txHash = randomBytes(32).toString("hex");
    if (this.crashAfter === "claim") { this.crashAfter = undefined; throw new Error("crash after claim"); }
    return { txHash };
  }
}
