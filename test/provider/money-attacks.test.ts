import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Constr, Data, getAddressDetails } from "@lucid-evolution/lucid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPLETE_TTL_MS } from "../../offchain/tx/complete.js";
import { createLucidEscrowGateway } from "../../src/provider/chain/escrow-gateway.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { JobStateStore, type EscrowTerms } from "../../src/provider/state-store.js";
import type { ProviderJobEvent, RunEvent, RunRequest } from "../../src/provider/types.js";
import { createEscrowWorld, randomHex, type EscrowWorld } from "../helpers/emulator.js";

/**
 * The money attacks of issue #10, from outside: every escrow here is locked by a transaction built by hand with
 * Lucid primitives and a datum encoded from contracts/plutus.json's EscrowDatum definition (not with the
 * project's lock builder or datum codec), on Lucid's Emulator with the real validator deployed. The provider
 * must refuse to run each bad escrow, say why with a `released` event, and no NTX may move.
 */

type Schema = { dataType?: string; anyOf?: Array<{ title: string; index: number; fields: Array<Schema & { title?: string }> }>; $ref?: string; title?: string };
const blueprint = JSON.parse(readFileSync(new URL("../../contracts/plutus.json", import.meta.url), "utf8")) as { definitions: Record<string, Schema> };

/** Encodes `value` as Plutus data following a blueprint definition: constructors by title, fields by title. */
function encode(schema: Schema, value: unknown): unknown {
  if (schema.$ref) return encode(blueprint.definitions[schema.$ref.replace("#/definitions/", "")]!, value);
  if (schema.dataType === "bytes") return value as string;
  if (schema.dataType === "integer") return BigInt(value as number | bigint);
  if (schema.anyOf) {
    const [title, fields] = Object.entries(value as Record<string, unknown>)[0]!;
    const ctor = schema.anyOf.find((c) => c.title === title);
    if (!ctor) throw new Error(`no constructor ${title}`);
    const given = fields as Record<string, unknown> | unknown[];
    return new Constr(ctor.index, ctor.fields.map((f, i) => encode(f, Array.isArray(given) ? given[i] : given[f.title!])));
  }
  throw new Error(`unsupported schema ${JSON.stringify(schema)}`);
}

function addressData(address: string) {
  const d = getAddressDetails(address);
  const cred = (c: { type: string; hash: string }) => (c.type === "Key" ? { VerificationKey: [c.hash] } : { Script: [c.hash] });
  return { Address: { paymentCredential: cred(d.paymentCredential!), stakeCredential: d.stakeCredential ? { Some: [{ Inline: [cred(d.stakeCredential)] }] } : { None: [] } } };
}

let world: EscrowWorld;
let dir: string;
const HOUR = 3_600_000;

beforeAll(async () => {
  world = await createEscrowWorld();
  dir = await mkdtemp(join(tmpdir(), "ntx-money-"));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

interface HandLock {
  arbiter: string | null;
  challengeWindow: number;
  deadline: number;
  /** Lovelace in the output; undefined lets Lucid add the Locked output's own min-ADA and nothing more. */
  lovelace?: bigint;
}

/** Locks one escrow with a transaction built by hand; returns its job hash and out-ref. */
async function handLock(amount: bigint, lock: HandLock): Promise<{ jobHash: string; txHash: string }> {
  const jobHash = randomHex(32);
  const lucid = world.as("requester");
  const datum = encode(blueprint.definitions.EscrowDatum!, {
    EscrowDatum: {
      state: { Locked: [] },
      requester: world.parties.requester.keyHash,
      payout: addressData(world.parties.provider.address),
      proofKey: proofKeyFromHex(world.proofWallet.privateKey).providerId,
      jobHash,
      amount,
      deadline: lock.deadline,
      challengeWindow: lock.challengeWindow,
      arbiter: lock.arbiter === null ? { None: [] } : { Some: [lock.arbiter] },
    },
  });
  const assets = { [world.ntxUnit]: amount, ...(lock.lovelace !== undefined ? { lovelace: lock.lovelace } : {}) };
  const tx = await lucid.newTx().pay.ToContract(world.script.address, { kind: "inline", value: Data.to(datum as Data) }, assets).validTo(world.emulator.now() + 600_000).complete();
  const txHash = await world.submit("requester", tx);
  return { jobHash, txHash };
}

function request(jobHash: string): RunRequest {
  return {
    jobHash,
    image: "ntx-test/busybox:1",
    command: ["echo", "work"],
    env: {},
    resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
    limits: { timeoutMs: 60_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 },
  };
}

describe("money attacks with hand-built escrows (Emulator, real validator)", () => {
  it("runs nothing for a self-named arbiter, a huge window, too little lovelace or a far deadline; runs a fair escrow", async () => {
    const terms: EscrowTerms = { arbiters: [world.parties.arbiter.keyHash], maxChallengeWindowMs: HOUR, maxDeadlineMs: 2 * HOUR, lockWindowMs: 600_000 };
    const store = await JobStateStore.open(dir);
    const runner = new NoopRunner();
    const events: Array<RunEvent | ProviderJobEvent> = [];
    const gateway = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, now: () => world.emulator.now() });
    const errors: unknown[] = [];
    const daemon = new ProviderDaemon({
      runner,
      gateway,
      store,
      proofKey: proofKeyFromHex(world.proofWallet.privateKey),
      payoutAddress: world.parties.provider.address,
      completeMarginMs: 1000,
      terms,
      events: { publish: (e) => { events.push(e); } },
      onError: (e) => errors.push(e),
    });
    const amount = 40_000_000n;
    const now = world.emulator.now();
    const fair: HandLock = { arbiter: world.parties.arbiter.keyHash, challengeWindow: 600_000, deadline: now + HOUR, lovelace: 5_000_000n };
    const attacks: Record<string, { lock: HandLock; bid: { challengeWindowMs: number; arbiter?: string }; reason: RegExp }> = {
      // The buyer names itself arbiter: after Complete it would dispute and resolve with providerShare = 0.
      selfArbiter: { lock: { ...fair, arbiter: world.parties.requester.keyHash }, bid: { challengeWindowMs: 600_000, arbiter: world.parties.arbiter.keyHash }, reason: /arbiter .* differs from the bid/ },
      // The same, with a bid that asked for it too (a matcher that ignored the offer's terms).
      selfArbiterInBid: { lock: { ...fair, arbiter: world.parties.requester.keyHash }, bid: { challengeWindowMs: 600_000, arbiter: world.parties.requester.keyHash }, reason: /not one this provider accepts/ },
      // A window that never ends: the provider could never claim.
      hugeWindow: { lock: { ...fair, challengeWindow: Number.MAX_SAFE_INTEGER }, bid: { challengeWindowMs: 600_000, arbiter: world.parties.arbiter.keyHash }, reason: /challenge window .* differs/ },
      hugeWindowInBid: { lock: { ...fair, challengeWindow: Number.MAX_SAFE_INTEGER }, bid: { challengeWindowMs: Number.MAX_SAFE_INTEGER, arbiter: world.parties.arbiter.keyHash }, reason: /exceeds this provider's/ },
      // Only the Locked datum's min-ADA: Complete's larger datum cannot be paid for, the buyer refunds later.
      tooLittleLovelace: { lock: { ...fair, lovelace: undefined }, bid: { challengeWindowMs: 600_000, arbiter: world.parties.arbiter.keyHash }, reason: /lovelace, less than/ },
      // A deadline far beyond the provider's horizon.
      farDeadline: { lock: { ...fair, deadline: now + 365 * 24 * HOUR }, bid: { challengeWindowMs: 600_000, arbiter: world.parties.arbiter.keyHash }, reason: /beyond this provider's horizon/ },
    };
    const jobs: Record<string, string> = {};
    for (const [name, attack] of Object.entries(attacks)) {
      const { jobHash } = await handLock(amount, attack.lock);
      jobs[name] = jobHash;
      await daemon.accept({ request: request(jobHash), price: amount, deadline: attack.lock.deadline, bidTerms: attack.bid, terms, matchedAt: now });
    }
    const fairJob = await handLock(amount, fair);
    await daemon.accept({ request: request(fairJob.jobHash), price: amount, deadline: fair.deadline, bidTerms: { challengeWindowMs: 600_000, arbiter: world.parties.arbiter.keyHash }, terms, matchedAt: now });
    world.as("provider");
    const providerNtx = await world.balance("provider", world.ntxUnit);
    const requesterNtx = await world.balance("requester", world.ntxUnit);

    const until = Date.now() + 60_000;
    while (Date.now() < until && store.get(fairJob.jobHash)?.observed.phase !== "completed") {
      await daemon.tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    await daemon.stop({ waitForRuns: true });
    expect(errors).toEqual([]);
    expect(store.get(fairJob.jobHash)?.observed.phase).toBe("completed");
    // Only the fair job ran.
    expect(runner.runs.map((r) => r.jobHash)).toEqual([fairJob.jobHash]);
    for (const [name, jobHash] of Object.entries(jobs)) {
      const record = store.get(jobHash)!;
      expect(record.observed.phase, name).toBe("refused");
      expect(record.observed.error?.message, name).toMatch(attacks[name]!.reason);
      const released = events.filter((e) => e.kind === "job" && e.jobHash === jobHash && e.phase === "refused");
      expect(released, name).toHaveLength(1);
      // The escrow is untouched, NTX and all: the buyer's money waits for its refund, nothing was paid out.
      const left = await gateway.findEscrows(jobHash);
      expect(left.map((e) => [e.state.kind, e.ntxInValue]), name).toEqual([["locked", amount]]);
    }
    expect(await world.balance("provider", world.ntxUnit)).toBe(providerNtx);
    expect(await world.balance("requester", world.ntxUnit)).toBe(requesterNtx);
    // The fair escrow moved to Completed, keeping its NTX for the provider's claim.
    const completed = await gateway.getEscrow(store.get(fairJob.jobHash)!.observed.escrow!);
    expect(completed?.state.kind).toBe("completed");
    // completedAt is the Complete's validity end: kept near the real completion, so the claim is not minutes late.
    if (completed?.state.kind === "completed") expect(completed.state.completedAt - world.emulator.now()).toBeLessThanOrEqual(COMPLETE_TTL_MS);
    expect(completed?.ntxInValue).toBe(amount);
  }, 180_000);

  it("the too-little-lovelace escrow is a real trap: its Complete cannot be built, so refusing it up front saves the work", async () => {
    const now = world.emulator.now();
    const { jobHash } = await handLock(30_000_000n, { arbiter: null, challengeWindow: 60_000, deadline: now + HOUR });
    const gateway = createLucidEscrowGateway({ lucid: world.as("provider"), deployment: world.deployment, now: () => world.emulator.now() });
    const [escrow] = await gateway.findEscrows(jobHash);
    expect(escrow!.lovelace).toBeLessThan(escrow!.minLovelace);
    const { signCompletionProof, escrowRef } = await import("../../offchain/proof.js");
    const resultHash = "ab".repeat(32);
    const signature = await signCompletionProof(world.proofWallet, { escrowRef: escrowRef(escrow!.outRef), jobHash, resultHash });
    await expect(gateway.submitComplete({ escrow: escrow!, resultHash, signature })).rejects.toThrow();
  }, 120_000);

  it("releases a confirmed match that nobody locks within the lock window", async () => {
    let wall = Date.now();
    const store = await JobStateStore.open(join(dir, "lock-window"));
    const events: ProviderJobEvent[] = [];
    const gateway = createLucidEscrowGateway({ lucid: world.lucid, deployment: world.deployment, now: () => world.emulator.now() });
    const daemon = new ProviderDaemon({
      runner: new NoopRunner(),
      gateway,
      store,
      proofKey: proofKeyFromHex(world.proofWallet.privateKey),
      payoutAddress: world.parties.provider.address,
      terms: { arbiters: [], maxChallengeWindowMs: HOUR, maxDeadlineMs: 2 * HOUR, lockWindowMs: 60_000 },
      clock: () => wall,
      events: { publish: (e) => { if (e.kind === "job") events.push(e); } },
    });
    const jobHash = randomHex(32);
    await daemon.accept({ request: request(jobHash), price: 1n, deadline: world.emulator.now() + HOUR, bidTerms: { challengeWindowMs: 60_000 } });
    await daemon.tick();
    expect(store.get(jobHash)?.observed.phase).toBe("awaiting-escrow");
    wall += 60_001;
    await daemon.tick();
    expect(store.get(jobHash)?.observed.phase).toBe("released");
    expect(store.get(jobHash)?.observed.error?.code).toBe("LOCK_WINDOW_PASSED");
    expect(events.map((e) => e.phase)).toEqual(["awaiting-escrow", "released"]);
  }, 60_000);
});
