import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import fc from "fast-check";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { paymentKeyHashOfPrivateKey, newPrivateKey, type LucidEvolution } from "../../offchain/chain/index.js";
import { buildCompleteTx, buildLockTx, buildResolveTx, escrowScriptFor, loadDeployment, readEscrowUtxos, signCompletionProof, submitTx, type EscrowUtxo } from "../../offchain/index.js";
import { signJobEvent } from "../../src/market/index.js";
import { openResultStore } from "../../src/nats/index.js";
import { blake2b256Hex, writeSecretFile } from "../../src/provider/index.js";
import { writeDeterministicTar } from "../../src/provider/result/tar.js";
import { http, startStack, waitFor, type Stack } from "../api/stack.js";
import { buildWeb, injectWallet, launchBrowser } from "../helpers/browser.js";
import { createTestWallet, type TestWallet } from "../helpers/wallet.js";

const PRICE = 1_101n; // base units: 1 core, 1 GiB, 1 GiB disk for 60 min at the test offer's prices
const NTX = 1_000_000n; // base units per NTX (6 decimals)
const SHOTS = "reports/screenshots";
const ROOT = new URL("../../", import.meta.url).pathname;

/*
 * The buyer's whole journey in real headless Chromium against the real API, matcher, NATS and devnet chain,
 * with a CIP-30 wallet whose key lives in this process. The provider's side (confirmation, events, stored
 * result, completion on-chain) is played by this test with the provider's own keys, so every buyer state can be
 * reached without Docker; the chain's balances are read back after every settlement.
 */
describe("web page: the buyer's journey", () => {
  let web: { dir: string; remove(): Promise<void> };
  let stack: Stack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let lucid: LucidEvolution;

  beforeAll(async () => {
    web = await buildWeb();
    stack = await startStack({ webDir: web.dir, challengeWindowMs: 180_000 });
    await stack.publishOffer();
    browser = await launchBrowser();
    lucid = await stack.chain.lucid();
    await mkdir(SHOTS, { recursive: true });
  });
  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await web?.remove();
  });

  const script = () => escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
  const balance = async (address: string) => {
    const utxos = await stack.chain.utxosAt(address);
    return { ntx: utxos.reduce((s, u) => s + (u.assets[stack.ntxUnit] ?? 0n), 0n), lovelace: utxos.reduce((s, u) => s + (u.assets.lovelace ?? 0n), 0n) };
  };
  const escrowOf = async (jobHash: string): Promise<EscrowUtxo | undefined> => (await readEscrowUtxos(await stack.chain.lucid(), script())).escrows.find((e) => e.datum.jobHash === jobHash);
  /** The `ntx` command as a person runs it, against this stack's API and devnet chain. */
  const ntx = async (args: string[]) =>
    (await promisify(execFile)(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, timeout: 120_000, env: { ...process.env, NTX_NETWORK: "devnet", BLOCKFROST_URL: stack.devnet.url } })).stdout;
  const phase = (page: Page) => page.locator("#job-phase").getAttribute("data-phase");
  const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

  const openPage = async (wallet: TestWallet, options: { keepBanner?: boolean } = {}): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
    contexts.push(context);
    await injectWallet(context, wallet);
    const page = await context.newPage();
    page.on("pageerror", (e) => {
      throw e;
    });
    await page.goto(stack.api.url);
    await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
    await page.locator("#balance").filter({ hasText: "NTX" }).waitFor({ timeout: 90_000 });
    if (!options.keepBanner) expect(await page.locator("#banner").isHidden()).toBe(true);
    return page;
  };

  const bid = async (page: Page, fields: Record<string, string> = {}) => {
    for (const [name, value] of Object.entries({ command: "echo hi > /out/hi.txt", ...fields })) await page.locator(`input[name=${name}]`).fill(value);
    await page.getByRole("button", { name: "Sign bid with wallet" }).click();
  };
  const jobHashOn = async (page: Page) => {
    await page.locator("#job-hash").filter({ hasText: /^[0-9a-f]{64}$/ }).waitFor({ timeout: 30_000 });
    return (await page.locator("#job-hash").textContent())!;
  };
  const matchIdOf = async (jobHash: string) => waitFor("a match", async () => (await http(stack.api.url, "GET", `/api/jobs/${jobHash}`)).body.match?.matchId as string | undefined);
  const providerEvent = (jobHash: string, seq: number, kind: "started" | "completed", extra: Record<string, unknown> = {}) =>
    stack.client.publishJobEvent(jobHash, signJobEvent(stack.provider.ethKey, { v: 1, type: "job-event", jobHash, providerId: stack.provider.id, seq, kind, at: Date.now(), ...extra }));

  /** As the provider: proves completion on-chain with its EIP-712 key and pays the fee from its payout wallet. */
  const completeAsProvider = async (jobHash: string, resultHash: string) => {
    const provider = await stack.chain.lucid({ privateKey: stack.provider.cardanoKey });
    const escrow = (await escrowOf(jobHash))!;
    const deployment = await loadDeployment(provider, script(), stack.referenceScript);
    const signature = await signCompletionProof(new Wallet(stack.provider.ethKey), { escrowRef: escrow.escrowRef, jobHash, resultHash });
    const hash = await submitTx(provider, await buildCompleteTx(provider, { deployment, escrow, resultHash, signature, validForMs: 60_000 }));
    await stack.chain.awaitConfirmation(hash);
  };

  /** Bid, see the match wait for confirmation without a Lock button, confirm as the provider, lock. */
  const bidConfirmLock = async (page: Page, name: string, fields: Record<string, string> = {}) => {
    await bid(page, fields);
    const jobHash = await jobHashOn(page);
    const matchId = await matchIdOf(jobHash);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("matched");
    expect(await page.locator("#lock-button").isHidden()).toBe(true);
    await shot(page, `${name}-1-matched-unconfirmed`);
    await stack.confirm(jobHash, matchId);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("confirmed");
    await page.locator("#lock-button").waitFor();
    expect(await page.locator("#lock-cost").textContent()).toMatch(/min-ADA .* returned to you/);
    await shot(page, `${name}-2-confirmed-lockable`);
    await page.locator("#lock-button").click();
    await page.locator("#lock-tx").waitFor({ timeout: 90_000 });
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("locked");
    await shot(page, `${name}-3-locked`);
    return jobHash;
  };

  it("locks only after the provider confirms, restores the job on reload, shows it running and completed, checks the outputs' hash, and accepts", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100n * NTX);
    const page = await openPage(buyer);
    await expect.poll(() => page.locator("#balance").textContent()).toBe("100 NTX · 40 ADA");
    expect(await page.locator("#out-hint").textContent()).toMatch(/Only files the job writes under \/out are its result/);

    const jobHash = await bidConfirmLock(page, "accept");
    expect(await page.locator("#match-price").textContent()).toBe("0.001101 NTX");
    expect(buyer.requests.filter((r) => r.method === "signTx")).toHaveLength(1);

    // A reload mid-job: the page finds the job again and shows where it stands.
    await page.reload();
    await page.getByRole("button", { name: "Connect NTX Test Wallet" }).click();
    await expect.poll(() => page.locator("#job-hash").textContent(), { timeout: 30_000 }).toBe(jobHash);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("locked");

    await providerEvent(jobHash, 0, "started");
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("running");
    await shot(page, "accept-4-running");

    // The provider stores its outputs and proves their hash on-chain.
    const archive = writeDeterministicTar([{ path: "hi.txt", type: "file", mode: 0o644, data: new TextEncoder().encode("hi\n"), linkName: "" }]);
    const resultHash = blake2b256Hex(archive);
    await (await openResultStore(stack.nc)).put({ name: jobHash }, new ReadableStream({ start: (c) => (c.enqueue(archive), c.close()) }));
    await providerEvent(jobHash, 1, "completed", { resultHash, exitCode: 0 });
    await completeAsProvider(jobHash, resultHash);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("completed");
    expect(await page.locator("#job-next").textContent()).toMatch(/challenge window ends \d\d:\d\d:\d\d \(in \d+ (s|min)\)/);
    expect(await page.locator("#result-hash").textContent()).toBe(resultHash);
    await page.locator("#outputs-button").click();
    await page.locator("#outputs-status").filter({ hasText: "Outputs match the result hash" }).waitFor();
    const download = page.waitForEvent("download");
    await page.locator('#outputs li[data-path="hi.txt"] a').click();
    const file = await download;
    const chunks: Buffer[] = [];
    for await (const chunk of (await file.createReadStream())!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("hi\n");
    await shot(page, "accept-5-completed-outputs-checked");

    const providerBefore = await balance(stack.provider.payoutAddress);
    const buyerBefore = await balance(buyer.address);
    const escrow = (await escrowOf(jobHash))!;
    await page.locator("#accept-button").click();
    await page.locator("#accept-tx").waitFor({ timeout: 90_000 });
    const providerAfter = await balance(stack.provider.payoutAddress);
    const acceptFee = BigInt((await http(stack.api.url, "GET", `/api/tx/${await page.locator("#accept-tx").textContent()}`)).body.fee);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("paid");
    await shot(page, "accept-6-paid");
    // On the chain: the provider got the price, the buyer its min-ADA back (less the fee), the escrow is gone.
    expect(await escrowOf(jobHash)).toBeUndefined();
    expect(providerAfter.ntx - providerBefore.ntx).toBe(PRICE);
    const buyerAfter = await balance(buyer.address);
    expect(buyerAfter.ntx).toBe(buyerBefore.ntx);
    // The buyer gets the escrow's ADA back, less the fee and the min-ADA of the provider's NTX output.
    expect(buyerAfter.lovelace - buyerBefore.lovelace).toBe(escrow.utxo.assets.lovelace! - acceptFee - (providerAfter.lovelace - providerBefore.lovelace));
  });

  it("outputs that do not match the proven hash are refused in the browser", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100n * NTX);
    const page = await openPage(buyer);
    const jobHash = await bidConfirmLock(page, "tampered");
    const proven = writeDeterministicTar([{ path: "a.txt", type: "file", mode: 0o644, data: new TextEncoder().encode("real\n"), linkName: "" }]);
    const served = writeDeterministicTar([{ path: "a.txt", type: "file", mode: 0o644, data: new TextEncoder().encode("fake\n"), linkName: "" }]);
    await (await openResultStore(stack.nc)).put({ name: jobHash }, new ReadableStream({ start: (c) => (c.enqueue(served), c.close()) }));
    await completeAsProvider(jobHash, blake2b256Hex(proven));
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("completed");
    await page.locator("#outputs-button").click();
    await page.locator("#outputs-status").filter({ hasText: "do not match the result hash" }).waitFor();
    expect(await page.locator("#outputs li").count()).toBe(0);
    await shot(page, "tampered-outputs-refused");

    // From a terminal: `ntx job results` refuses the same outputs and writes nothing; `ntx job accept` signs
    // with the buyer's key file and pays the provider.
    const dir = await mkdtemp(join(tmpdir(), "ntx-job-cli-"));
    try {
      const results = await ntx(["job", "results", jobHash, "--api", stack.api.url, "-o", join(dir, "out")]).catch((e: { code?: number; stderr?: string }) => e);
      expect(results).toMatchObject({ code: 1 });
      expect((results as { stderr: string }).stderr).toMatch(/do not match|hash to .* not the proven .*nothing was written.*\[RESULT_HASH_MISMATCH\]/);
      expect(existsSync(join(dir, "out"))).toBe(false);
      await writeSecretFile(join(dir, "buyer.sk"), buyer.privateKey);
      const providerBefore = await balance(stack.provider.payoutAddress);
      const accepted = (await ntx(["job", "accept", jobHash, "--api", stack.api.url, "-k", join(dir, "buyer.sk")])) as string;
      expect(accepted).toMatch(/^accept confirmed in [0-9a-f]{64}/);
      expect(await escrowOf(jobHash)).toBeUndefined();
      expect((await balance(stack.provider.payoutAddress)).ntx - providerBefore.ntx).toBe(PRICE);
      await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("paid");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("disputes a completed job that names an arbiter; the arbiter's split lands on the chain", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100n * NTX);
    const arbiterKey = newPrivateKey();
    const arbiterAddress = (await import("../../offchain/chain/index.js")).addressOfPrivateKey(arbiterKey, "devnet");
    await stack.devnet.fund(arbiterAddress, 20_000_000n);
    // The buyer's wallet locks by itself (outside the page) naming an arbiter: the page finds the job on the chain.
    const jobHash = "d1".repeat(32);
    const buyerLucid = await stack.chain.lucid({ privateKey: buyer.privateKey });
    const lockHash = await submitTx(buyerLucid, await buildLockTx(buyerLucid, { script: script(), jobs: [{ payout: stack.provider.payoutAddress, proofKey: stack.provider.id, jobHash, amount: 5n * NTX, deadline: Date.now() + 3_600_000, challengeWindow: 180_000, arbiter: paymentKeyHashOfPrivateKey(arbiterKey) }] }));
    await stack.chain.awaitConfirmation(lockHash);
    await completeAsProvider(jobHash, "ee".repeat(32));

    const page = await openPage(buyer);
    await expect.poll(() => page.locator("#job-hash").textContent(), { timeout: 30_000 }).toBe(jobHash);
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("completed");
    await page.locator("#dispute-button").waitFor();
    await shot(page, "dispute-1-completed");
    await page.locator("#dispute-button").click();
    await page.locator("#dispute-tx").waitFor({ timeout: 90_000 });
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("disputed");
    await shot(page, "dispute-2-disputed");

    const buyerBefore = await balance(buyer.address);
    const providerBefore = await balance(stack.provider.payoutAddress);
    const arbiter = await stack.chain.lucid({ privateKey: arbiterKey });
    const deployment = await loadDeployment(arbiter, script(), stack.referenceScript);
    const resolved = await submitTx(arbiter, await buildResolveTx(arbiter, { deployment, escrow: (await escrowOf(jobHash))!, providerShare: 2n * NTX }));
    await stack.chain.awaitConfirmation(resolved);
    expect((await balance(buyer.address)).ntx - buyerBefore.ntx).toBe(3n * NTX);
    expect((await balance(stack.provider.payoutAddress)).ntx - providerBefore.ntx).toBe(2n * NTX);
  });

  it("refunds a locked job the provider never completed, once its deadline has passed", async () => {
    const buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 40_000_000n, 100n * NTX);
    const page = await openPage(buyer);
    // The bid's deadline is the escrow's: 0.75 min after bidding (duration 0.25 min).
    const jobHash = await bidConfirmLock(page, "refund", { duration: "0.25", deadline: "0.75" });
    const before = await balance(buyer.address);
    const locked = (await escrowOf(jobHash))!.datum.amount;
    await expect.poll(() => phase(page), { timeout: 120_000 }).toBe("refundable");
    await shot(page, "refund-1-refundable");
    await page.locator("#refund-button").click();
    await page.locator("#refund-tx").waitFor({ timeout: 90_000 });
    await expect.poll(() => phase(page), { timeout: 30_000 }).toBe("refunded");
    await shot(page, "refund-2-refunded");
    expect(await escrowOf(jobHash)).toBeUndefined();
    expect((await balance(buyer.address)).ntx - before.ntx).toBe(locked);
  });

  it("settlement routes refuse strangers, wrong states and malformed requests with stable codes, and never answer 500", async () => {
    const buyer = await createTestWallet(stack.chain);
    const stranger = await createTestWallet(stack.chain);
    await Promise.all([stack.devnet.fund(buyer.address, 40_000_000n, 10n * NTX), stack.devnet.fund(stranger.address, 40_000_000n, 10n * NTX)]);
    const jobHash = "5e".repeat(32);
    const buyerLucid = await stack.chain.lucid({ privateKey: buyer.privateKey });
    await stack.chain.awaitConfirmation(await submitTx(buyerLucid, await buildLockTx(buyerLucid, { script: script(), jobs: [{ payout: stack.provider.payoutAddress, proofKey: stack.provider.id, jobHash, amount: NTX, deadline: Date.now() + 3_600_000, challengeWindow: 180_000 }] })));
    const post = async (action: string, wallet: TestWallet, over: Record<string, unknown> = {}) => http(stack.api.url, "POST", `/api/tx/${action}`, { address: wallet.addressHex, utxos: await wallet.api.getUtxos(), jobHash, ...over });

    // The API shares one read of the escrow address for a moment: this test's own lock shows once it is re-read.
    await expect.poll(async () => (await http(stack.api.url, "GET", `/api/jobs/${jobHash}/status`)).body.phase, { timeout: 30_000 }).toBe("locked");
    for (const action of ["accept", "dispute", "refund"]) expect((await post(action, stranger)).body.error?.code).toMatch(/^(NOT_THE_BUYER|ESCROW_STATE)$/);
    expect((await post("refund", stranger)).status).toBe(403);
    expect(await post("refund", buyer)).toMatchObject({ status: 409, body: { error: { code: "DEADLINE_NOT_REACHED" } } });
    expect(await post("accept", buyer)).toMatchObject({ status: 409, body: { error: { code: "ESCROW_STATE" } } });
    expect(await post("accept", buyer, { jobHash: "00".repeat(32) })).toMatchObject({ status: 404, body: { error: { code: "ESCROW_NOT_FOUND" } } });
    expect((await http(stack.api.url, "GET", `/api/jobs/${jobHash}/status`)).body).toMatchObject({ phase: "locked", actions: [], lockable: false });
    expect((await http(stack.api.url, "GET", `/api/jobs/${jobHash}/status?lockTx=nothex`)).status).toBe(400);
    expect((await http(stack.api.url, "GET", `/api/jobs/${"07".repeat(32)}/status`)).body.error.code).toBe("JOB_NOT_FOUND");
    expect((await http(stack.api.url, "GET", `/api/jobs/${"07".repeat(32)}/result`)).body.error.code).toBe("RESULT_NOT_FOUND");
    expect((await http(stack.api.url, "GET", `/api/wallet/${buyer.addressHex}/jobs`)).body.escrows.map((e: { jobHash: string }) => e.jobHash)).toEqual([jobHash]);

    // Whatever a client sends, the answer is a 4xx with a code: never a 500, never a crash.
    const hex = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength, maxLength });
    const routes = ["/api/tx/accept", "/api/tx/dispute", "/api/tx/refund", "/api/buyer/funds"];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.json(), fc.record({ address: fc.string(), utxos: fc.array(hex(0, 80), { maxLength: 3 }), jobHash: hex(64, 64), maxPrice: fc.string() }, { requiredKeys: [] })), async (route, body) => {
        const answer = await http(stack.api.url, "POST", route, typeof body === "string" ? body : JSON.stringify(body));
        expect(answer.status, JSON.stringify(answer.body)).toBeGreaterThanOrEqual(400);
        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
        expect(typeof answer.body.error?.code).toBe("string");
      }),
      { seed: 15, numRuns: 60 },
    );
  });

  it("says what went wrong in plain words: refusals, a lying or dry wallet, too little NTX or ADA, a max price below every offer", async () => {
    const poor = await createTestWallet(stack.chain);
    await stack.devnet.fund(poor.address, 20_000_000n, 1_000n);
    const page = await openPage(poor);
    const banner = () => page.locator("#banner").textContent();
    const noRawText = async () => expect(await banner()).not.toMatch(/\d+n\b|[0-9a-f]{40,}|\{|lovelace/);

    // Too little NTX: told before the bid is signed, in NTX.
    await bid(page, { maxPrice: "2" });
    await expect.poll(banner).toBe("Not enough NTX: this job needs up to 2 NTX, the wallet holds 0.001 NTX.");
    await noRawText();
    expect(poor.requests.filter((r) => r.method === "signData")).toEqual([]);
    await shot(page, "error-insufficient-ntx");

    // A declined signature.
    poor.refuseNext("signData");
    await bid(page, { maxPrice: "0.0001" });
    await expect.poll(banner).toMatch(/^You declined to sign/);

    // The API unreachable.
    await page.route("**/api/bids/prepare", (route) => route.abort("connectionrefused"));
    await bid(page, { maxPrice: "0.0001" });
    await expect.poll(banner).toMatch(/API cannot be reached/);
    await page.unroute("**/api/bids/prepare");

    // A max price below every offer: the page says the cheapest fitting offer's price.
    await bid(page, { maxPrice: "0.0001" });
    await jobHashOn(page);
    await page.locator("#job-hint").filter({ hasText: "is below the cheapest offer that fits this job (0.001101 NTX)" }).waitFor({ timeout: 30_000 });
    expect(await phase(page)).toBe("waiting");
    await shot(page, "waiting-max-price-too-low");

    // Too little ADA: 1.5 ADA cannot carry a lock's min-ADA and fee.
    const noAda = await createTestWallet(stack.chain);
    await stack.devnet.fund(noAda.address, 1_500_000n, 100n * NTX);
    const page2 = await openPage(noAda);
    await bid(page2, { maxPrice: "1" });
    await expect.poll(() => page2.locator("#banner").textContent()).toMatch(/^Not enough ADA: the lock needs about [\d.]+ ADA \(min-ADA kept with the escrow and returned later, the fee, and the ADA your NTX change must carry\); the wallet holds 1\.5 ADA\.$/);
    await shot(page2, "error-insufficient-ada");

    // A wallet that lies about its balance (claims plenty) and one whose UTxOs are not on the chain (dry).
    const liar = await createTestWallet(stack.chain);
    await stack.devnet.fund(liar.address, 20_000_000n, 1n);
    const rich = await createTestWallet(stack.chain);
    await stack.devnet.fund(rich.address, 50_000_000n, 1_000n * NTX);
    liar.api.getBalance = rich.api.getBalance;
    const page3 = await openPage(liar);
    await expect.poll(() => page3.locator("#balance").textContent()).toBe("1,000 NTX · 50 ADA");
    await bid(page3, { maxPrice: "1" });
    await expect.poll(() => page3.locator("#banner").textContent()).toMatch(/^Not enough NTX: this job needs up to 1 NTX, the wallet holds 0.000001 NTX\.$/);
    expect(liar.requests.filter((r) => r.method === "signData")).toEqual([]);

    // A wallet that names someone else's address as its own: it cannot sign for it, and the page says so plainly.
    const impostor = await createTestWallet(stack.chain);
    await stack.devnet.fund(impostor.address, 20_000_000n, 10n * NTX);
    impostor.api.getChangeAddress = async () => rich.addressHex;
    const page3b = await openPage(impostor);
    await bid(page3b, { maxPrice: "1" });
    await expect.poll(() => page3b.locator("#banner").textContent()).toBe("The wallet could not sign: address is not this wallet's");
    expect(await page3b.locator("#job").isHidden()).toBe(true);

    // Dry: a wallet with nothing on this network.
    const dry = await createTestWallet(stack.chain);
    const page4 = await openPage(dry);
    await bid(page4, { maxPrice: "1" });
    await expect.poll(() => page4.locator("#banner").textContent()).toMatch(/^This wallet has no funds on this network yet/);
    await shot(page4, "error-dry-wallet");

    // A wallet that refuses to sign the lock: nothing is spent, the Lock button stays.
    const decliner = await createTestWallet(stack.chain);
    await stack.devnet.fund(decliner.address, 40_000_000n, 100n * NTX);
    const page5 = await openPage(decliner);
    await bid(page5);
    const jobHash = await jobHashOn(page5);
    await stack.confirm(jobHash, await matchIdOf(jobHash));
    await page5.locator("#lock-button").waitFor({ timeout: 30_000 });
    decliner.refuseNext("signTx");
    await page5.locator("#lock-button").click();
    await expect.poll(() => page5.locator("#banner").textContent()).toMatch(/^You declined to sign the lock transaction/);
    await expect.poll(() => page5.locator("#lock-button").isVisible()).toBe(true);
    expect(await escrowOf(jobHash)).toBeUndefined();
    await shot(page5, "error-lock-declined");
  });
});
