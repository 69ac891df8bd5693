import { mkdir } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bidAndMatch, completeAsProvider, lockViaApi } from "../api/flows.js";
import { startStack, type Stack } from "../api/stack.js";
import { buildWeb, injectWallet, launchBrowser } from "../helpers/browser.js";
import { createTestWallet } from "../helpers/wallet.js";

// A provider opens the page with its payout wallet, sees the escrows paying it, and claims them in one transaction.
describe("web page: provider", () => {
  let web: { dir: string; remove(): Promise<void> };
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    web = await buildWeb();
    stack = await startStack({ webDir: web.dir, challengeWindowMs: 2_000 });
    await stack.publishOffer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await web?.remove();
  });

  it("lists payouts and claims the completed ones with the provider's wallet", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 60_000_000n, 100_000n);
    const jobs = [await bidAndMatch(stack, buyer), await bidAndMatch(stack, buyer), await bidAndMatch(stack, buyer)];
    const locks = [];
    for (const j of jobs) locks.push(await lockViaApi(stack, buyer, j));
    // Two completed, one still running (locked): only the two are claimable.
    await completeAsProvider(stack, locks[0]!, "01".repeat(32));
    await completeAsProvider(stack, locks[1]!, "02".repeat(32));

    const provider = await createTestWallet(stack.chain, stack.provider.cardanoKey);
    const ntxOf = async () => (await stack.chain.utxosAt(provider.address)).reduce((s, u) => s + (u.assets[stack.ntxUnit] ?? 0n), 0n);
    const before = await ntxOf();

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      await injectWallet(context, provider);
      const page = await context.newPage();
      await page.goto(stack.api.url);
      await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
      await page.locator("#balance").filter({ hasText: "NTX" }).waitFor();
      await page.getByRole("tab", { name: "Provider payouts" }).click();
      const rows = page.locator("#payouts tbody tr");
      await expect.poll(() => rows.count()).toBe(3);
      await expect.poll(async () => (await page.locator("#payouts tbody").textContent()) ?? "").toMatch(/completed.*completed|locked/);
      // The challenge window (2 s) passes; a refresh shows them claimable.
      await expect
        .poll(
          async () => {
            await page.getByRole("button", { name: "Refresh" }).click();
            return page.locator("#payouts tbody td", { hasText: /^now$/ }).count();
          },
          { timeout: 30_000, interval: 1_000 },
        )
        .toBe(2);
      // The chain's clock follows its blocks: give it a moment past the window.
      await new Promise((r) => setTimeout(r, 1_500));
      await page.getByRole("button", { name: "Claim all claimable" }).click();
      await page.locator("#claim-info").filter({ hasText: /^Claimed 0.002202 NTX from 2 escrow\(s\)/ }).waitFor({ timeout: 90_000 });
      expect((await ntxOf()) - before).toBe(2_202n);
      await expect.poll(() => rows.count()).toBe(1);
      expect(await rows.first().textContent()).toContain("locked");
      await mkdir("reports", { recursive: true });
      await page.screenshot({ path: "reports/web-provider.png", fullPage: true });
    } finally {
      await context.close();
    }
  });
});
