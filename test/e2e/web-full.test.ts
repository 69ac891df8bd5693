import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, newPrivateKey } from "../../offchain/chain/index.js";
import { openResultStore } from "../../src/nats/index.js";
import { blake2b256Hex, parseProviderConfig, startProviderNode, writeSecretFile, type ProviderNode } from "../../src/provider/index.js";
import { startStack, type Stack } from "../api/stack.js";
import { buildWeb, launchBrowser, openConnectedPage } from "../helpers/browser.js";
import { dockerCli, ensureDocker } from "../helpers/docker.js";
import { createTestWallet } from "../helpers/wallet.js";

// The whole marketplace behind the page: the buyer's browser wallet bids and locks; the real provider node
// (Docker sandbox) confirms, runs the container, stores the result, completes the escrow with its EIP-712 proof;
// the page shows the container's log and the result hash, which is the hash of the stored result.
const ROOT = new URL("../../", import.meta.url).pathname;
const SHOTS = "reports/screenshots";
describe("web page: buyer with a real provider", () => {
  let web: { dir: string; remove(): Promise<void> };
  let stack: Stack;
  let browser: Browser;
  let node: ProviderNode | undefined;
  let dir: string;
  let providerId = "";

  beforeAll(async () => {
    await ensureDocker();
    dir = await mkdtemp(join(tmpdir(), "ntx-web-full-"));
    web = await buildWeb();
    stack = await startStack({ webDir: web.dir, challengeWindowMs: 120_000, blockTimeMs: 500 });
    const paymentKey = newPrivateKey();
    await stack.devnet.fund(addressOfPrivateKey(paymentKey, "devnet"), 100_000_000n);
    const proof = Wallet.createRandom();
    providerId = proof.signingKey.compressedPublicKey.slice(2);
    await writeSecretFile(join(dir, "proof.key"), proof.privateKey);
    await writeSecretFile(join(dir, "payment.key"), paymentKey);
    const config = parseProviderConfig({
      regions: ["local"],
      prices: { cpuCoreHour: "3600000", memoryGiBHour: "0", diskGiBHour: "0", gpuHour: "0" },
      images: ["ntx-test/busybox:*"],
      keys: { proofKeyFile: join(dir, "proof.key"), paymentKeyFile: join(dir, "payment.key") },
      limits: { maxCpuCores: 1, maxMemoryMiB: 512, maxDiskGiB: 1, maxDurationMs: 120_000, completeMarginMs: 5_000, maxConcurrentJobs: 1 },
      // A confirmed match not locked within 45 s is released: short, so a buyer who never locks is seen through,
      // yet long enough for a lock on a loaded machine (a lock after the window is, rightly, never run).
      terms: { lockWindowMs: 45_000 },
      stateDir: join(dir, "state"),
      dockerRoot: dir,
      natsUrl: stack.nats.url,
      chainUrl: stack.devnet.url,
      network: "devnet",
      escrow: { referenceScript: `${stack.referenceScript.txHash}#0`, ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName } },
      offerIntervalMs: 2_000,
      pollIntervalMs: 500,
    });
    node = await startProviderNode({ config, env: {} });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    await stack?.close();
    await web?.remove();
    if (providerId) {
      const ids = (await dockerCli(["ps", "-aq", "--filter", `label=ntx.provider=${providerId.slice(0, 16)}`])).split("\n").filter(Boolean);
      if (ids.length) await dockerCli(["rm", "-f", "-v", ...ids]);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs a real job: Lock only after the provider confirms, a reload mid-run restores the job, outputs downloaded and checked in the page and by ntx job results", { timeout: 600_000 }, async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 10_000_000n);
    const { context, page } = await openConnectedPage(browser, stack.api.url, buyer);
    try {
      await page.locator("#balance").filter({ hasText: "10 NTX" }).waitFor();
      await expect.poll(() => page.locator("#offers-summary").textContent(), { timeout: 30_000 }).toBe("1 provider online");

      await page.locator("input[name=image]").fill("ntx-test/busybox:1");
      await page.locator("input[name=command]").fill("sleep 4; echo hello from the web > /out/result.txt; echo job done");
      await page.locator("input[name=memory]").fill("64");
      await page.locator("input[name=duration]").fill("1");
      await page.getByRole("button", { name: "Sign bid with wallet" }).click();
      // 1 core for 1 minute at 3.6 NTX per core-hour; the real provider confirms before the Lock button shows.
      await page.locator("#job-phase[data-phase=confirmed]").waitFor({ timeout: 60_000 });
      expect(await page.locator("#match-price").textContent()).toBe("0.06 NTX");
      await page.getByRole("button", { name: "Lock 0.06 NTX" }).click();
      await page.locator("#lock-tx").waitFor({ timeout: 90_000 });
      const jobHash = (await page.locator("#job-hash").textContent())!;

      // The provider sees the lock on the chain and starts the container: slow on a loaded machine.
      await page.locator("#job-phase[data-phase=running]").waitFor({ timeout: 150_000 });
      await mkdir(SHOTS, { recursive: true });
      await page.screenshot({ path: `${SHOTS}/real-1-running.png`, fullPage: true });
      await page.reload();
      await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
      await expect.poll(() => page.locator("#job-hash").textContent(), { timeout: 30_000 }).toBe(jobHash);

      await page.locator("#job-phase[data-phase=completed]").waitFor({ timeout: 180_000 });
      const resultHash = (await page.locator("#result-hash").textContent())!;
      await expect.poll(() => page.locator("#log").textContent(), { timeout: 30_000 }).toContain("stdout │ job done");
      await page.locator("#outputs-button").click();
      await page.locator("#outputs-status").filter({ hasText: "Outputs match the result hash (1 file" }).waitFor({ timeout: 30_000 });
      await page.screenshot({ path: `${SHOTS}/real-2-completed.png`, fullPage: true });
      const blob = await (await openResultStore(stack.nc)).getBlob(jobHash);
      expect(blake2b256Hex(blob!)).toBe(resultHash);

      // The same outputs from a terminal: `ntx job results` checks the hash before writing a file.
      const out = join(dir, "results");
      const cli = await runNtx(["job", "results", jobHash, "--api", stack.api.url, "-o", out]);
      expect(cli).toContain(`outputs match ${resultHash}`);
      expect(await readFile(join(out, "result.txt"), "utf8")).toBe("hello from the web\n");
      const status = JSON.parse(await runNtx(["job", "status", jobHash, "--api", stack.api.url, "--json"]));
      expect(status).toMatchObject({ phase: "completed", resultHash, actions: ["accept"] });
    } finally {
      await context.close();
    }
  });

  // Needs the provider's release of unlocked matches after lockWindowMs (branch `provider`) beside the matcher's
  // (merged here from `market`): on by default once both are merged; NTX_E2E_SKIP_RELEASE=1 skips it before that.
  it.skipIf(process.env.NTX_E2E_SKIP_RELEASE === "1")("a buyer who confirms but never locks does not block the next buyer: the provider's capacity comes back after the lock window", { timeout: 600_000 }, async () => {
    const open = async (funds: bigint) => {
      const wallet = await createTestWallet(stack.chain);
      await stack.devnet.fund(wallet.address, 40_000_000n, funds);
      const { context, page } = await openConnectedPage(browser, stack.api.url, wallet);
      await page.locator("input[name=image]").fill("ntx-test/busybox:1");
      await page.locator("input[name=command]").fill("echo second > /out/b.txt");
      await page.locator("input[name=memory]").fill("64");
      await page.locator("input[name=duration]").fill("1");
      return { context, page };
    };
    const first = await open(10_000_000n);
    const second = await open(10_000_000n);
    try {
      // The first buyer is matched and confirmed (the provider's one job slot is theirs), then walks away.
      await first.page.getByRole("button", { name: "Sign bid with wallet" }).click();
      await first.page.locator("#job-phase[data-phase=confirmed]").waitFor({ timeout: 60_000 });
      await second.page.getByRole("button", { name: "Sign bid with wallet" }).click();
      await second.page.locator("#job-hash").filter({ hasText: /^[0-9a-f]{64}$/ }).waitFor({ timeout: 30_000 });
      await second.page.screenshot({ path: `${SHOTS}/never-lock-1-second-waits.png`, fullPage: true });
      // The first buyer's page says the match was released once the lock window passed.
      await first.page.locator("#job-phase[data-phase=released]").waitFor({ timeout: 120_000 });
      expect(await first.page.locator("#lock-button").isHidden()).toBe(true);
      await first.page.screenshot({ path: `${SHOTS}/never-lock-2-first-released.png`, fullPage: true });
      // The second buyer gets the provider, its confirmation, and runs.
      await second.page.locator("#job-phase[data-phase=confirmed]").waitFor({ timeout: 90_000 });
      await second.page.getByRole("button", { name: /^Lock / }).click();
      await second.page.locator("#lock-tx").waitFor({ timeout: 90_000 });
      await second.page.locator("#job-phase[data-phase=completed]").waitFor({ timeout: 180_000 });
      await second.page.screenshot({ path: `${SHOTS}/never-lock-3-second-completed.png`, fullPage: true });
    } finally {
      await first.context.close();
      await second.context.close();
    }
  });
});

async function runNtx(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, timeout: 120_000 });
  return stdout;
}
