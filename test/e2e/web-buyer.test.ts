import { mkdir } from "node:fs/promises";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { paymentKeyHashOfPrivateKey } from "../../offchain/chain/index.js";
import { escrowScriptFor, readEscrowUtxos } from "../../offchain/index.js";
import { signJobEvent } from "../../src/market/index.js";
import { http, startStack, waitFor, type Stack } from "../api/stack.js";
import { buildWeb, injectWallet, launchBrowser } from "../helpers/browser.js";
import { createTestWallet, type TestWallet } from "../helpers/wallet.js";

const PRICE = 1_101n; // 1 core, 1 GiB, 1 GiB disk for 60 min at the test offer's prices

// The page served by the API, in real headless Chromium, with a CIP-30 wallet whose key lives in this process:
// connect → sign a bid (signData) → matched by the real matcher → lock NTX (API builds, wallet signs, API submits)
// → the escrow is on the devnet chain with the right amount and datum → live events and the result hash.
describe("web page: buyer", () => {
  let web: { dir: string; remove(): Promise<void> };
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    web = await buildWeb();
    stack = await startStack({ webDir: web.dir, challengeWindowMs: 2_000 });
    await stack.publishOffer();
    browser = await launchBrowser();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await web?.remove();
  });

  const openPage = async (wallet: TestWallet, options: { refuseConnect?: boolean } = {}): Promise<Page> => {
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await injectWallet(context, wallet);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(stack.api.url);
    if (options.refuseConnect) {
      wallet.refuseNext("enable");
      await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
      await expect.poll(() => page.locator("#banner").textContent()).toMatch(/The wallet refused to connect/);
    }
    await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
    await page.locator("#balance").filter({ hasText: "NTX" }).waitFor();
    expect(await page.locator("#banner").isHidden()).toBe(true);
    expect(problems).toEqual([]);
    return page;
  };

  it("connects a CIP-30 wallet, signs a bid, gets matched, locks NTX, and follows the job to its result", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100_000n);
    const page = await openPage(buyer);

    await expect.poll(() => page.locator("#balance").textContent()).toBe("100,000 NTX · 40 ADA");
    await expect.poll(() => page.locator("#address").getAttribute("title")).toBe(buyer.address);
    await expect.poll(() => page.locator("#offers-summary").textContent(), { timeout: 15_000 }).toBe("1 provider online");
    await expect.poll(() => page.locator("#network").textContent()).toBe("devnet");

    await page.locator("input[name=command]").fill("echo hello from the browser test");
    await page.getByRole("button", { name: "Sign bid with wallet" }).click();
    // One signData reveals the wallet's key, the second signs the bid's payload.
    await page.locator("#match-price").waitFor({ timeout: 60_000 });
    expect(await page.locator("#match-price").textContent()).toBe(`${PRICE.toLocaleString("en-US")} NTX`);
    const signed = buyer.requests.filter((r) => r.method === "signData").map((r) => Buffer.from(r.payload, "hex").toString("utf8"));
    expect(signed[1]).toMatch(/^ntx-market bid v1 [0-9a-f]{64}$/);
    const jobHash = (await page.locator("#job-hash").textContent())!;
    expect(jobHash).toMatch(/^[0-9a-f]{64}$/);
    const job = await http(stack.api.url, "GET", `/api/jobs/${jobHash}`);
    expect(job.body.bid.bid.spec.command).toEqual(["sh", "-c", "echo hello from the browser test"]);

    await page.getByRole("button", { name: `Lock ${PRICE.toLocaleString("en-US")} NTX` }).click();
    await page.locator("#lock-tx").waitFor({ timeout: 90_000 });
    const lockTx = (await page.locator("#lock-tx").textContent())!;
    expect(buyer.requests.filter((r) => r.method === "signTx")).toHaveLength(1);

    // On the chain: one escrow at the script address holding the price, its datum naming this job and parties.
    const lucid = await stack.chain.lucid();
    const script = escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
    const escrows = (await readEscrowUtxos(lucid, script)).escrows.filter((e) => e.datum.jobHash === jobHash);
    expect(escrows).toHaveLength(1);
    const escrow = escrows[0]!;
    expect(escrow.utxo.txHash).toBe(lockTx);
    expect(escrow.utxo.assets[stack.ntxUnit]).toBe(PRICE);
    expect(escrow.datum).toMatchObject({
      jobHash,
      amount: PRICE,
      payout: stack.provider.payoutAddress,
      proofKey: stack.provider.id,
      requester: paymentKeyHashOfPrivateKey(buyer.privateKey),
      challengeWindow: 2_000,
      state: { kind: "locked" },
    });
    await expect.poll(() => page.locator("#balance").textContent(), { timeout: 15_000 }).toMatch(/^98,899 NTX · /);

    // The provider's events and logs reach the page live over SSE.
    const event = (seq: number, kind: "started" | "completed", extra: Record<string, unknown> = {}) =>
      signJobEvent(stack.provider.ethKey, { v: 1, type: "job-event", jobHash, providerId: stack.provider.id, seq, kind, at: Date.now(), ...extra });
    await stack.client.publishJobEvent(jobHash, event(0, "started"));
    await stack.client.publishJobLog(jobHash, JSON.stringify({ jobHash, lines: [[1, Date.now(), "hello from the browser test"]] }));
    const resultHash = "ab".repeat(32);
    await stack.client.publishJobEvent(jobHash, event(1, "completed", { resultHash, exitCode: 0 }));
    await page.locator("#result").filter({ hasText: resultHash }).waitFor({ timeout: 30_000 });
    expect(await page.locator("#log").textContent()).toContain("stdout │ hello from the browser test");

    await mkdir("reports", { recursive: true });
    await page.screenshot({ path: "reports/web-buyer.png", fullPage: true });
  });

  it("tells the person what went wrong: refused connection, declined signature, API unreachable, not enough NTX", async () => {
    const poor = await createTestWallet(stack.chain);
    await stack.devnet.fund(poor.address, 20_000_000n, 50n);
    const page = await openPage(poor, { refuseConnect: true });

    poor.refuseNext("signData");
    await page.getByRole("button", { name: "Sign bid with wallet" }).click();
    await expect.poll(() => page.locator("#banner").textContent()).toMatch(/You declined to sign/);

    await page.route("**/api/bids/prepare", (route) => route.abort("connectionrefused"));
    await page.getByRole("button", { name: "Sign bid with wallet" }).click();
    await expect.poll(() => page.locator("#banner").textContent()).toMatch(/API cannot be reached/);
    await page.unroute("**/api/bids/prepare");

    await page.getByRole("button", { name: "Sign bid with wallet" }).click();
    await page.locator("#match-price").waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: /^Lock / }).click();
    await expect.poll(() => page.locator("#banner").textContent(), { timeout: 30_000 }).toMatch(/Not enough NTX in this wallet.*INSUFFICIENT_NTX/);
    // Nothing was asked of the wallet for a lock that could not be paid.
    expect(poor.requests.filter((r) => r.method === "signTx")).toEqual([]);
    await page.screenshot({ path: "reports/web-buyer-error.png" });
  });
});
