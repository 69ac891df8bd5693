import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLeaseOpenTx, getLeaseUtxo, leaseScriptFor, readLeases, submitTx, type LeaseDeployment } from "../../offchain/index.js";
import { closePoolLease, openPoolLease, topUpPoolLease } from "../../src/cli/pool-lease.js";
import { DockerRunner } from "../../src/provider/docker/docker-runner.js";
import { DockerServiceRunner } from "../../src/provider/docker/service-runner.js";
import { createChainLeaseSettlement } from "../../src/provider/service/chain-lease-settlement.js";
import { createTxBuildPool, type TxBuildPool } from "../../src/runtime/tx-pool/pool.js";
import { LeasePhase } from "../../src/provider/service/lease-keeper.js";
import { ServiceHost } from "../../src/provider/service/service-host.js";
import type { ServiceRequestInput } from "../../src/provider/service/types.js";
import { standinNodeRequest } from "../helpers/standin-node.js";
import type { ProviderJobEvent } from "../../src/provider/types.js";
import { fundedParty, startTestDevnet, type DevnetParty, type TestDevnet } from "../helpers/devnet.js";
import { dockerCli, dockerTestRun, ensureDocker } from "../helpers/docker.js";

/*
 * Issue #12 end to end on the devnet chain server (over HTTP, 1 s blocks, every script evaluated by the client and
 * again by the server) and the real Docker engine with the stand-in node image: the buyer opens leases that name
 * their service jobs; the provider's ServiceHost (the node's own wiring: ChainLeaseSettlement over the lease
 * builders, the lease keeper, DockerServiceRunner) starts each service once its lease is on-chain, claims on a short
 * schedule in batches, and the claims pay exactly rate × elapsed against chain balances; `ntx pool topup` and
 * `ntx pool stop` (the CLI's functions, signing with the buyer's key file) top one lease up and close it, the rest
 * coming back to the buyer; a second lease runs dry and its service stops after the notice event.
 * No timing asserts: the test waits for conditions (generous limits) and checks amounts and order only.
 */

const exec = promisify(execFile);
const HEAVY = process.env.NTX_HEAVY === "1";
const STANDIN = "ntx-test-wire/standin-node:1";
const testRun = dockerTestRun();
const RATE = 1_000n;

let devnet: TestDevnet;
let buyer: DevnetParty;
let provider: DevnetParty;
let dir: string;
let serviceRunner: DockerServiceRunner;
let keyFile: string;
let builds: TxBuildPool | undefined;
const threadBuilds: string[] = [];

function nodeRequest(noticeMs: number): ServiceRequestInput {
  return standinNodeRequest(STANDIN, { volume: { name: "db", mountPath: "/data", sizeMiB: 16 }, noticeMs, scratch: ["/ipc"] });
}

/** What the provider did so far, for a timeout's message. */
let diagnose: () => string = () => "";

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; ${diagnose()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const ntxOf = async (p: DevnetParty) => (await p.chain.utxosAt(p.address)).reduce((a, u) => a + (u.assets[devnet.info.ntx.unit] ?? 0n), 0n);

beforeAll(async () => {
  await ensureDocker();
  await exec("bash", ["scripts/standin-node-image.sh", STANDIN], { timeout: 180_000 });
  devnet = await startTestDevnet({ blockTimeMs: 1000 });
  [buyer, provider] = await Promise.all([fundedParty(devnet, 200_000_000n, 10_000_000n), fundedParty(devnet, 50_000_000n, 0n)]);
  dir = await mkdtemp(join(tmpdir(), "ntx-test-wire-"));
  keyFile = join(dir, "buyer.skey");
  await writeFile(keyFile, buyer.key, { mode: 0o600 });
  const images = new DockerRunner({ allowImages: ["ntx-test-wire/standin-node:*"], labels: testRun.labels });
  serviceRunner = new DockerServiceRunner({ images, stateDir: join(dir, "services"), secretsRoot: join(dir, "secrets"), network: `ntx-test-wire-net-${testRun.id}`, namePrefix: "ntx-test-wire", labels: testRun.labels });
}, 240_000);

afterAll(async () => {
  await builds?.close();
  for (const h of (await serviceRunner?.list().catch(() => [])) ?? []) await serviceRunner.remove(h).catch(() => undefined);
  await testRun.cleanup().catch(() => undefined);
  await serviceRunner?.removeNetwork().catch(() => undefined);
  const table = await readFile("/proc/self/mountinfo", "utf8");
  for (const point of table.split("\n").map((l) => l.split(" ")[4] ?? "").filter((p) => dir && p.startsWith(`${dir}/`))) await exec("umount", [point]).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
  await devnet?.stop();
}, 120_000);

describe("stake-pool leases end to end (devnet chain, real engine)", () => {
  it("runs each service while its lease pays, claims exactly rate × elapsed, closes with the rest refunded, and stops a dry lease after its notice", async () => {
    const deployment: LeaseDeployment = { script: leaseScriptFor(provider.lucid) };
    const asset = { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName };
    const events: ProviderJobEvent[] = [];
    const errors: unknown[] = [];
    const rejected: string[] = [];
    // Claims are built on a tx-build thread, as the provider node builds them.
    const buildThread = createTxBuildPool(provider.chain, { workers: 1, queue: 2, timeoutMs: 600_000 });
    builds = buildThread;
    const claimBuilds: TxBuildPool = { ...buildThread, build: (name, params) => (threadBuilds.push(name), buildThread.build(name, params)) };
    const settlement = createChainLeaseSettlement({
      lucid: provider.lucid,
      deployment,
      asset,
      payoutAddress: provider.address,
      minRatePerSecond: (jobHash) => host.minRatePerSecond(jobHash),
      onRejected: (lease, reason) => rejected.push(`${lease.outRef}: ${reason}`),
      claimBuilds,
    });
    const host: ServiceHost = new ServiceHost({
      runner: serviceRunner,
      settlement,
      stateDir: join(dir, "host"),
      events: { publish: (e) => { if (e.kind === "job") events.push(e); } },
      // Claim every few seconds (the production default is a day); stop 2 s before the paid time ends. The dry lease's
      // notice (20 s) is far longer than one pass (a claim build and its confirmation), so a pass always lands in it.
      schedule: { claimIntervalMs: 6_000, minClaim: 10n ** 15n, stopMarginMs: 2_000 },
      maxClaimBatch: 20,
      onError: (error) => errors.push(error),
    });
    let ticks = 0;
    diagnose = () =>
      `${ticks} passes; events: ${events.map((e) => `${e.jobHash.slice(0, 6)} ${e.phase} ${new Date(e.at).toISOString().slice(11, 19)}`).join(", ")}; errors: ${errors.map((e) => (e instanceof Error ? e.message : String(e)).slice(0, 200)).join(" | ")}; counters ${JSON.stringify(host.keeper.counters)}`;
    const phases = (jobHash: string) => events.filter((e) => e.jobHash === jobHash).map((e) => e.phase);

    // Two service jobs the provider took (as the market loop hands them over), and a third lease it never agreed to.
    const kept = nodeRequest(5_000);
    const dry = nodeRequest(HEAVY ? 30_000 : 20_000);
    for (const r of [kept, dry]) {
      await host.accept({ request: r, buyerKey: "00".repeat(32), lockWindowMs: 600_000, minRatePerSecond: RATE });
    }
    const keptSeconds = HEAVY ? 600 : 300;
    const drySeconds = HEAVY ? 90 : 50;
    const ntxBefore = { buyer: await ntxOf(buyer), provider: await ntxOf(provider) };
    const open = async (jobHash: string, seconds: number, notice: number, rate = RATE) =>
      submitTx(buyer.lucid, await buildLeaseOpenTx(buyer.lucid, { script: deployment.script, provider: provider.address, asset, jobHash, rate, durationMs: seconds * 1000, notice, validForMs: 4_000 }));
    // The kept lease through `ntx pool open` (the buyer's key file); the others built directly.
    const env = { NTX_NETWORK: "devnet", BLOCKFROST_URL: devnet.url };
    const keptOpen = (await openPoolLease({ job: kept.jobHash, keyFile, env, provider: provider.address, asset, rate: RATE, days: keptSeconds / 86_400, noticeMs: kept.service.noticeMs, validForMs: 4_000 })).txHash;
    const dryOpen = await open(dry.jobHash, drySeconds, dry.service.noticeMs);
    // Underpaying (below the provider's rate) and unasked-for leases are never listed, so never run or claimed.
    const cheap = nodeRequest(5_000);
    await host.accept({ request: cheap, buyerKey: "00".repeat(32), lockWindowMs: 600_000, minRatePerSecond: RATE });
    await open(cheap.jobHash, 60, 5_000, RATE / 2n);
    await open(randomBytes(32).toString("hex"), 60, 5_000);
    const keptStart = await getLeaseUtxo(provider.lucid, deployment.script, { txHash: keptOpen, outputIndex: 0 });
    expect(keptStart.balance).toBe(RATE * BigInt(keptSeconds));
    const dryStart = await getLeaseUtxo(provider.lucid, deployment.script, { txHash: dryOpen, outputIndex: 0 });
    expect(keptStart.datum.jobHash).toBe(kept.jobHash);

    // The provider's loop, driven here instead of by its timer: each pass reads the chain, starts, claims, stops.
    let stopTicking = false;
    const ticking = (async () => {
      while (!stopTicking) {
        await host.tick();
        ticks++;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      await waitFor("both services started", async () => (phases(kept.jobHash).includes(LeasePhase.Started) && phases(dry.jobHash).includes(LeasePhase.Started) ? true : undefined), 60_000);
      expect(host.keeper.has(cheap.jobHash)).toBe(false);
      expect(rejected.some((r) => r.includes("below this provider's"))).toBe(true);
      expect(rejected.some((r) => r.includes("no service job"))).toBe(true);

      // Two claims of the kept lease landed, and the dry lease's service stopped after its notice.
      await waitFor("two claims of the kept lease", async () => (phases(kept.jobHash).filter((p) => p === LeasePhase.Claimed).length >= 2 ? true : undefined), 90_000);
      await waitFor("the dry lease's service stopped", async () => (phases(dry.jobHash).includes(LeasePhase.Stopped) ? true : undefined), (drySeconds + 60) * 1000);
      stopTicking = true;
      await ticking;
      const dryPhases = phases(dry.jobHash);
      expect(dryPhases.indexOf(LeasePhase.Notice)).toBeGreaterThan(dryPhases.indexOf(LeasePhase.Started));
      expect(dryPhases.indexOf(LeasePhase.Notice)).toBeLessThan(dryPhases.indexOf(LeasePhase.Stopped));
      const dryService = host.keeper.services().find((s) => s.jobHash === dry.jobHash)!;
      expect(dryService.stoppedForFunds).toBe(true);
      expect(JSON.parse(await dockerCli(["inspect", dryService.handle!.containerId]))[0].State.Running).toBe(false);

      // Claims pay exactly rate × elapsed: each lease's lastClaim moved by t, its balance fell by rate × t, nothing else changed.
      const leaseOf = async (jobHash: string) => (await readLeases(provider.lucid, deployment.script, { buyer: keptStart.datum.buyer })).leases.find((l) => l.datum.jobHash === jobHash);
      const keptNow = (await leaseOf(kept.jobHash))!;
      const dryNow = (await leaseOf(dry.jobHash))!;
      const keptClaims = keptStart.balance - keptNow.balance;
      const dryClaims = dryStart.balance - dryNow.balance;
      expect(keptClaims).toBeGreaterThan(0n);
      expect(keptClaims).toBe((RATE * BigInt(keptNow.datum.lastClaim - keptStart.datum.lastClaim)) / 1000n);
      expect(dryClaims).toBe((RATE * BigInt(dryNow.datum.lastClaim - dryStart.datum.lastClaim)) / 1000n);
      expect(keptNow.datum).toEqual({ ...keptStart.datum, lastClaim: keptNow.datum.lastClaim });
      const providerClaimed = (await ntxOf(provider)) - ntxBefore.provider;
      expect(providerClaimed).toBe(keptClaims + dryClaims);
      expect(threadBuilds.length).toBeGreaterThanOrEqual(2);
      expect(threadBuilds.every((name) => name === "leaseClaim")).toBe(true);

      // `ntx pool topup` (the buyer's key file): the kept lease runs 60 s longer for exactly 60 s of rate.
      const topped = await topUpPoolLease({ job: kept.jobHash, keyFile, env, amount: RATE * 60n });
      const after = (await leaseOf(kept.jobHash))!;
      expect(after.utxo.txHash).toBe(topped.txHash);
      expect(after.datum.end).toBe(keptNow.datum.end + 60_000);
      expect(after.balance).toBe(keptNow.balance + RATE * 60n);

      // `ntx pool stop`: the provider gets what accrued to the close's upper bound (whole seconds), the buyer the rest.
      const closed = await closePoolLease({ job: kept.jobHash, keyFile, env });
      expect(closed.lease).toBe(after.outRef);
      const closePay = (await ntxOf(provider)) - ntxBefore.provider - providerClaimed;
      expect(closePay).toBeGreaterThan(0n);
      expect(closePay % RATE).toBe(0n);
      expect(closePay).toBeLessThan(after.balance);
      expect(await leaseOf(kept.jobHash)).toBeUndefined();
      // Every base unit the buyer put in is with the provider (claims + close) or in a lease still open.
      const stillLocked = (await readLeases(provider.lucid, deployment.script, { buyer: keptStart.datum.buyer })).leases.reduce((sum, l) => sum + l.balance, 0n);
      expect(ntxBefore.buyer - (await ntxOf(buyer))).toBe(providerClaimed + closePay + stillLocked);

      // The keeper sees the kept lease gone: service stopped and, once confirmed, removed with its volume.
      for (let i = 0; i < 4 && host.keeper.has(kept.jobHash); i++) await host.tick();
      expect(phases(kept.jobHash)).toContain(LeasePhase.Closed);
      expect(await dockerCli(["ps", "-aq", "--filter", `label=ntx.job=${kept.jobHash}`])).toBe("");
      expect(errors.filter((e) => !(e instanceof Error && /NOTHING_TO_CLAIM|LEASE_NOT_FOUND|already spent/.test(e.message)))).toEqual([]);
    } finally {
      stopTicking = true;
      await ticking;
    }
  }, HEAVY ? 600_000 : 240_000);
});
