import { DEFAULT_ESCROW_TERMS } from "../../src/provider/daemon.js";
import { JobPhase, type JobStateStore } from "../../src/provider/state-store.js";
import { randomBytes } from "node:crypto";
import { addressOfPrivateKey, createChain, newPrivateKey, type Chain, type LucidEvolution } from "../../offchain/chain/index.js";
import {
  buildDeployReferenceScriptTx,
  encodeEscrowDatum,
  escrowScriptFor,
  loadDeployment,
  ntxUnit,
  readEscrowUtxos,
  submitTx,
  type EscrowDeployment,
  type EscrowUtxo,
} from "../../offchain/index.js";
import type { TestDevnet } from "./devnet.js";

/*
 * Claimable escrows on a devnet chain server: a funded wallet deploys the escrow and batch scripts (registering the
 * batch credential unless told not to) and pays escrows straight into the Completed state with their windows over,
 * 40 per transaction, each from its own buyer (a fresh requester key hash). What a claim costs and whether it is
 * valid do not depend on how an escrow reached Completed, and a real Complete per escrow would take minutes.
 */

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

export interface DevnetClaimWorld {
  key: string;
  address: string;
  chain: Chain;
  lucid: LucidEvolution;
  deployment: EscrowDeployment;
  deployTxHash: string;
  ntxUnit: string;
}

export async function devnetClaimWorld(
  devnet: TestDevnet,
  options: { lovelace?: bigint; ntx?: bigint; registerStake?: boolean; /** Per chain request, submit included (the server evaluates every script first). */ requestTimeoutMs?: number } = {},
): Promise<DevnetClaimWorld> {
  const key = newPrivateKey();
  const address = addressOfPrivateKey(key, "devnet");
  await devnet.fund(address, options.lovelace ?? 1_000_000_000n, options.ntx ?? 10_000_000n);
  const chain = options.requestTimeoutMs ? createChain({ network: "devnet", blockfrostUrl: devnet.url, requestTimeoutMs: options.requestTimeoutMs }) : devnet.chain();
  const lucid = await chain.lucid({ privateKey: key });
  const script = escrowScriptFor(lucid, { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName });
  const deployTx = await buildDeployReferenceScriptTx(lucid, { script, registerStake: options.registerStake ?? true });
  const deployTxHash = await submitTx(lucid, deployTx, { awaitConfirmation: false });
  await devnet.block();
  await chain.awaitConfirmation(deployTxHash);
  const deployment = await loadDeployment(lucid, script, { txHash: deployTxHash, outputIndex: 0 });
  return { key, address, chain, lucid, deployment, deployTxHash, ntxUnit: ntxUnit(script.ntx) };
}

/** `n` Completed escrows paying `payout` (default: the world's own address), windows over, confirmed. */
export async function payClaimableEscrows(devnet: TestDevnet, w: DevnetClaimWorld, n: number, payout = w.address): Promise<EscrowUtxo[]> {
  const now = Date.now();
  const hashes: string[] = [];
  for (let left = n, k = 0; left > 0; left -= 40) {
    let tx = w.lucid.newTx();
    for (let i = 0; i < Math.min(40, left); i++, k++) {
      const datum = encodeEscrowDatum({
        requester: hex(28),
        payout,
        proofKey: `02${hex(32)}`,
        jobHash: hex(32),
        amount: BigInt(1_000 + k),
        deadline: now + 3_600_000,
        challengeWindow: 1_000,
        arbiter: null,
        state: { kind: "completed", resultHash: hex(32), completedAt: now - 60_000 },
      });
      tx = tx.pay.ToContract(w.deployment.script.address, { kind: "inline", value: datum }, { lovelace: 1_500_000n, [w.ntxUnit]: BigInt(1_000 + k) });
    }
    hashes.push(await submitTx(w.lucid, await tx.complete(), { awaitConfirmation: false }));
    await devnet.block();
    await w.chain.awaitConfirmation(hashes.at(-1)!);
  }
  const mine = new Set(hashes);
  return (await readEscrowUtxos(w.lucid, w.deployment.script)).escrows.filter((e) => mine.has(e.utxo.txHash));
}

/** NTX at an address, from the chain. */
export async function ntxAt(w: DevnetClaimWorld, address: string): Promise<bigint> {
  return (await w.lucid.utxosAt(address)).reduce((sum, u) => sum + (u.assets[w.ntxUnit] ?? 0n), 0n);
}

/** A provider's state records of `escrows` as Completed jobs waiting for their claim (what the daemon claims). */
export async function storeCompletedJobs(store: JobStateStore, escrows: EscrowUtxo[], now = Date.now()): Promise<void> {
  for (const e of escrows) {
    await store.put({
      jobHash: e.datum.jobHash,
      desired: {
        request: {
          jobHash: e.datum.jobHash,
          image: "ntx-test/busybox:1",
          command: ["true"],
          env: {},
          resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
          limits: { timeoutMs: 60_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 },
        },
        price: e.datum.amount.toString(),
        deadline: now + 3_600_000,
        acceptedAt: now,
        matchedAt: now,
        terms: DEFAULT_ESCROW_TERMS,
        bidTerms: { challengeWindowMs: 1_000 },
      },
      observed: { phase: JobPhase.Completed, escrow: { txHash: e.utxo.txHash, outputIndex: e.utxo.outputIndex }, attempts: 1, updatedAt: now },
    });
  }
}
