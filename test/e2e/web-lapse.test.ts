import { mkdir } from "node:fs/promises";
import { Wallet } from "ethers";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { providerIdOf, signOffer, signProviderConfirm, type OfferInput } from "../../src/market/index.js";
import { http, startStack, waitFor, type Stack } from "../api/stack.js";
import { buildWeb, launchBrowser, openConnectedPage } from "../helpers/browser.js";
import { createTestWallet } from "../helpers/wallet.js";
import { unsignedOffer } from "../market/fixtures.js";

/*
 * A provider that never confirms: the page shows the match waiting, never offers the Lock button for it, shows the
 * lapse, and the re-match to another provider, whose confirmation is what makes the job lockable.
 */
describe("web page: a lapsed match and its re-match", () => {
  let web: { dir: string; remove(): Promise<void> };
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    web = await buildWeb();
    stack = await startStack({ webDir: web.dir, challengeWindowMs: 180_000, confirmWindowMs: 6_000 });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await web?.remove();
  });

  it("shows the lapse and the re-match as they happen; Lock only after the second provider confirms", async () => {
    // The silent provider is cheaper, so it is matched first; the other one is the fallback.
    const silent = Wallet.createRandom();
    const silentOffer = signOffer(silent.privateKey, unsignedOffer({ privateKey: silent.privateKey, id: providerIdOf(silent.privateKey) }, { payoutAddress: stack.provider.payoutAddress, prices: { cpuCoreHour: "500", memoryGiBHour: "50", diskGiBHour: "1", gpuHour: "1" } })) as OfferInput;
    await stack.client.publishOffer(silentOffer);
    await stack.publishOffer();

    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100_000_000n);
    const { context, page } = await openConnectedPage(browser, stack.api.url, buyer);
    try {
      await page.locator("#balance").filter({ hasText: "100 NTX" }).waitFor();
      await expect.poll(() => page.locator("#offers-summary").textContent(), { timeout: 15_000 }).toBe("2 providers online");
      await page.getByRole("button", { name: "Sign bid with wallet" }).click();
      await page.locator("#job-hash").filter({ hasText: /^[0-9a-f]{64}$/ }).waitFor({ timeout: 30_000 });
      const jobHash = (await page.locator("#job-hash").textContent())!;

      await page.locator("#job-phase[data-phase=matched]").waitFor({ timeout: 30_000 });
      expect(await page.locator("#lock-button").isHidden()).toBe(true);
      expect(await page.locator("#match-info").textContent()).toContain(silentOffer.providerId.slice(0, 8));
      await mkdir("reports/screenshots", { recursive: true });
      await page.screenshot({ path: "reports/screenshots/lapse-1-matched-silent.png", fullPage: true });

      // The confirmation window passes: the page says so and shows the new match with the other provider.
      await expect.poll(() => page.locator("#log").textContent(), { timeout: 60_000 }).toContain("did not confirm in time");
      const rematch = await waitFor("the re-match", async () => {
        const job = (await http(stack.api.url, "GET", `/api/jobs/${jobHash}`)).body as { match?: { matchId: string; providerId: string } };
        return job.match?.providerId === stack.provider.id ? job.match : undefined;
      });
      await expect.poll(() => page.locator("#match-info").textContent(), { timeout: 30_000 }).toContain(stack.provider.id.slice(0, 8));
      expect(await page.locator("#lock-button").isHidden()).toBe(true);
      await page.screenshot({ path: "reports/screenshots/lapse-2-rematched.png", fullPage: true });

      // The silent provider confirming now is too late and changes nothing; the current provider's does.
      await stack.client.publishConfirm(jobHash, signProviderConfirm(silent.privateKey, { v: 1, type: "provider-confirm", matchId: rematch.matchId, jobHash, providerId: silentOffer.providerId, confirmedAt: Date.now() }));
      await stack.confirm(jobHash, rematch.matchId);
      await page.locator("#job-phase[data-phase=confirmed]").waitFor({ timeout: 30_000 });
      await page.locator("#lock-button").waitFor();
      expect(await page.locator("#lock-button").textContent()).toMatch(/^Lock 0\.001101 NTX$/);
    } finally {
      await context.close();
    }
  });
});
