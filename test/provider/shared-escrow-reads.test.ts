import { beforeAll, describe, expect, it } from "vitest";
import { buildCompleteTx, EscrowReads, signCompletionProof, submitTx } from "../../offchain/index.js";
import { createLucidEscrowGateway } from "../../src/provider/chain/escrow-gateway.js";
import { createEscrowWorld, randomHex, type EscrowWorld } from "../helpers/emulator.js";

// Providers of one process share one read of the escrow address, and a Completed job's escrow is answered from it
// when it is there anyway. A read is never evidence that an escrow is gone: what it lacks is read again by out-ref.

let world: EscrowWorld;
beforeAll(async () => {
  world = await createEscrowWorld();
});

describe("escrow reads shared by the providers of a process", () => {
  it("serve two providers with one read, find by out-ref what a read missed, and never report spent from an old read", async () => {
    let now = 1_000;
    let reads = 0;
    const shared = new EscrowReads(
      {
        lucid: async () => {
          reads++;
          return world.lucid;
        },
      },
      world.script,
      5_000,
      () => now,
    );
    const one = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, reads: shared });
    const two = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, reads: shared });
    const [first] = await world.lock([{}]);
    expect(await one.findEscrows(first!.datum.jobHash)).toMatchObject([{ jobHash: first!.datum.jobHash, state: { kind: "locked" } }]);
    expect(await two.findEscrows(first!.datum.jobHash)).toHaveLength(1);
    expect(reads).toBe(1);

    // Locked after the read: not in it, and still found (by its out-ref), without a new read of the address.
    const [second] = await world.lock([{}]);
    expect(await two.findEscrows(second!.datum.jobHash)).toEqual([]);
    expect(await one.getEscrow(second!.utxo)).toMatchObject({ jobHash: second!.datum.jobHash, outRef: { txHash: second!.utxo.txHash } });
    expect(reads).toBe(1);

    // Completed (spent, continued at a new out-ref) after the read: the new output is found by its out-ref at once.
    const resultHash = randomHex(32);
    const signature = await signCompletionProof(world.proofWallet, { escrowRef: first!.escrowRef, jobHash: first!.datum.jobHash, resultHash });
    const completeHash = await submitTx(world.as("provider"), await buildCompleteTx(world.lucid, { deployment: world.deployment, escrow: first!, resultHash, signature, now: world.emulator.now() }));
    expect(await two.getEscrow({ txHash: completeHash, outputIndex: 0 })).toMatchObject({ state: { kind: "completed", resultHash } });

    // Once the read is older than its TTL the spent Locked output is read again: gone, and the next read agrees.
    now += 5_001;
    expect(await one.getEscrow(first!.utxo)).toBeNull();
    expect(reads).toBe(1);
    expect(await one.findEscrows(first!.datum.jobHash)).toMatchObject([{ state: { kind: "completed", resultHash } }]);
    expect(reads).toBe(2);
  });

  it("a provider's own reads (no sharing, no reuse) read the address on every look", async () => {
    let reads = 0;
    const own = new EscrowReads({ lucid: async () => (reads++, world.lucid) }, world.script, 0);
    const gateway = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, reads: own });
    const [escrow] = await world.lock([{}]);
    await gateway.findEscrows(escrow!.datum.jobHash);
    await gateway.findEscrows(escrow!.datum.jobHash);
    expect(reads).toBe(2);
    expect(own.fresh()).toBeUndefined();
  });

  it("answer a Completed job's escrow from a read a few seconds old while it is on the address, and by out-ref once it is not", async () => {
    let now = 1_000;
    let addressReads = 0;
    let outRefReads = 0;
    const counting = new Proxy(world.lucid, {
      get(target, key, receiver) {
        if (key === "utxosByOutRef") outRefReads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const reads = new EscrowReads({ lucid: async () => (addressReads++, world.lucid) }, world.script, 1_000, () => now);
    const gateway = createLucidEscrowGateway({ lucid: counting, deployment: world.deployment, reads, presentFromReadsMs: 4_000 });
    const [escrow] = await world.lock([{}]);
    await gateway.findEscrows(escrow!.datum.jobHash);
    now += 3_000; // past the reads' reuse, within presentFromReadsMs
    expect(await gateway.getEscrow(escrow!.utxo)).toMatchObject({ jobHash: escrow!.datum.jobHash });
    expect([addressReads, outRefReads]).toEqual([1, 0]);
    now += 2_000; // past presentFromReadsMs: read by out-ref
    expect(await gateway.getEscrow(escrow!.utxo)).toMatchObject({ jobHash: escrow!.datum.jobHash });
    expect([addressReads, outRefReads]).toEqual([1, 1]);
  });
});
