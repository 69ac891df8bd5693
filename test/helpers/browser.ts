/**
 * Real headless Chromium (Debian's build) through playwright-core, the built web page, and a CIP-30 wallet
 * injected as `window.cardano.ntxtest` whose every method calls back into Node, where test/helpers/wallet.ts
 * holds the key and really signs.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { TestWallet, TestWalletApi } from "./wallet.js";

const ROOT = new URL("../../", import.meta.url).pathname;
export const CHROMIUM = process.env.NTX_CHROMIUM ?? "/usr/lib/chromium/chromium";

/** Builds src/web with its Vite config into a fresh temp dir (never dist/web, which a developer may be serving). */
export async function buildWeb(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "ntx-web-"));
  await promisify(execFile)(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "-c", join(ROOT, "src/web/vite.config.ts"), "--outDir", dir, "--emptyOutDir"], { cwd: ROOT });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
}

type Reply = { ok: true; value: unknown } | { ok: false; error: { code: number; info: string } };

const ICON = `data:image/svg+xml;utf8,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 20"><circle cx="10" cy="10" r="9" fill="#35c28a"/><text x="10" y="14" font-size="10" text-anchor="middle" fill="#fff">T</text></svg>')}`;

/** Injects the wallet into every page of `context` before the page's own scripts run. */
export async function injectWallet(context: BrowserContext, wallet: TestWallet, options: { id?: string; name?: string } = {}): Promise<void> {
  const id = options.id ?? "ntxtest";
  const name = options.name ?? "NTX Test Wallet";
  await context.exposeFunction(`__ntxWallet_${id}`, async (method: string, args: unknown[]): Promise<Reply> => {
    try {
      if (method === "enable") {
        if (wallet.takeRefusal("enable")) return { ok: false, error: { code: -3, info: "user refused to connect" } };
        return { ok: true, value: null };
      }
      const fn = wallet.api[method as keyof TestWalletApi] as ((...a: unknown[]) => Promise<unknown>) | undefined;
      if (!fn) return { ok: false, error: { code: -1, info: `unsupported method ${method}` } };
      return { ok: true, value: await fn(...args) };
    } catch (error) {
      const e = error as { code?: number; info?: string; message?: string };
      return { ok: false, error: { code: typeof e.code === "number" ? e.code : -2, info: e.info ?? e.message ?? String(error) } };
    }
  });
  await context.addInitScript(
    ({ id, name, icon }) => {
      const bridge = (window as unknown as Record<string, (m: string, a: unknown[]) => Promise<Reply>>)[`__ntxWallet_${id}`]!;
      const call = async (method: string, args: unknown[]) => {
        const reply = await bridge(method, args);
        // CIP-30 errors are plain { code, info } objects, as real wallets throw them.
        if (!reply.ok) throw reply.error;
        return reply.value;
      };
      const methods = ["getNetworkId", "getUtxos", "getBalance", "getChangeAddress", "getUsedAddresses", "getUnusedAddresses", "getRewardAddresses", "getCollateral", "signTx", "signData", "submitTx"];
      const api = Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => call(m, args)]));
      const w = window as unknown as { cardano?: Record<string, unknown> };
      w.cardano ??= {};
      w.cardano[id] = {
        name,
        icon,
        apiVersion: "0.1.0",
        isEnabled: async () => true,
        enable: async () => {
          await call("enable", []);
          return api;
        },
      };
    },
    { id, name, icon: ICON },
  );
}

/** A fresh browser context with the wallet injected, the page opened at `url` and the wallet connected. */
export async function openConnectedPage(browser: Browser, url: string, wallet: TestWallet): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
  try {
    await injectWallet(context, wallet);
    const page = await context.newPage();
    await page.goto(url);
    await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
    await page.locator("#balance").filter({ hasText: "NTX" }).waitFor();
    return { context, page };
  } catch (error) {
    await context.close();
    throw error;
  }
}
