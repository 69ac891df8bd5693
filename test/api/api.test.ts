import { SigningKey, Wallet } from "ethers";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, createChain, newPrivateKey, paymentKeyHashOfPrivateKey } from "../../offchain/chain/index.js";
import { buildCompleteTx, escrowScriptFor, getEscrowUtxo, loadDeployment, readEscrowUtxos, signCompletionProof, submitTx } from "../../offchain/index.js";
import { startApiServer, type ApiServer } from "../../src/api/index.js";
import { openApiChecker, type OpenApiDoc } from "./openapi-check.js";
import { offerDigest } from "../../src/market/index.js";
import type { ApiContext } from "../../src/api/context.js";
import { marketRoutes } from "../../src/api/routes/market.js";
import { systemRoutes } from "../../src/api/routes/system.js";
import { txRoutes } from "../../src/api/routes/tx.js";
import { buyerRoutes } from "../../src/api/routes/buyer.js";
import { connectNats } from "../../src/nats/index.js";
import { freePort, startNatsServer } from "../helpers/nats.js";
import { createTestWallet, type TestWallet } from "../helpers/wallet.js";
import { signWalletBid, unsignedWalletBid, walletKey } from "./bid-helpers.js";
import { exchanges, http, startStack, waitFor, type Stack } from "./stack.js";

// The API against real parts: nats-server (JetStream), the devnet chain server over HTTP, the market's matcher.
describe("API", () => {
  let stack: Stack;
  let buyer: TestWallet;
  let buyerKey: string;
  let url: string;
  const PRICE = 1_101n; // 1 core + 1 GiB + 1 GiB disk for 1 h at the offer's prices

  beforeAll(async () => {
    stack = await startStack({ sseHeartbeatMs: 300 });
    url = stack.api.url;
    buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 50_000_000n, 100_000n);
    buyerKey = await walletKey(buyer);
    await stack.publishOffer();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const bidAndMatch = async (specOver = {}) => {
    const { bid, jobHash } = await signWalletBid(url, buyer, unsignedWalletBid(buyer, buyerKey, specOver));
    const posted = await http(url, "POST", "/api/bids", bid);
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    expect(posted.body.jobHash).toBe(jobHash);
    const job = await waitFor("the match", async () => {
      const r = await http(url, "GET", `/api/jobs/${jobHash}`);
      return r.status === 200 && r.body.match ? r.body : undefined;
    });
    return { bid, jobHash, job };
  };

  const lockAndSubmit = async (wallet: TestWallet, jobHash: string) => {
    const built = await http(url, "POST", "/api/tx/lock", { address: wallet.addressHex, utxos: await wallet.api.getUtxos(), jobHash });
    expect(built.status, JSON.stringify(built.body)).toBe(200);
    const witnessSet = await wallet.api.signTx(built.body.tx, true);
    const submitted = await http(url, "POST", "/api/tx/submit", { tx: built.body.tx, witnessSet });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body.txHash).toBe(built.body.txHash);
    await waitFor("lock confirmation", async () => (await http(url, "GET", `/api/tx/${submitted.body.txHash}`)).body.state === "confirmed");
    return { built: built.body, txHash: submitted.body.txHash as string };
  };

  describe("system", () => {
    it("reports health of chain and NATS", async () => {
      const r = await http(url, "GET", "/api/health");
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ ok: true, chain: { ok: true }, nats: { ok: true } });
      expect(r.body.chain.height).toBeGreaterThan(0);
    });

    it("serves the config: network, NTX asset, escrow script address", async () => {
      const r = await http(url, "GET", "/api/config");
      expect(r.status).toBe(200);
      const lucid = await stack.chain.lucid();
      const script = escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
      expect(r.body).toMatchObject({ network: "devnet", devnet: true, ntx: { unit: stack.ntxUnit }, escrow: { address: script.address, scriptHash: script.hash } });
      expect(r.body.escrow.referenceScript).toBe(`${stack.referenceScript.txHash}#0`);
    });

    it("serves an OpenAPI 3 document listing every route", async () => {
      const r = await http(url, "GET", "/api/openapi.json");
      expect(r.status).toBe(200);
      expect(r.body.openapi).toMatch(/^3\./);
      for (const path of ["/api/health", "/api/config", "/api/offers", "/api/bids", "/api/bids/prepare", "/api/jobs/{jobHash}", "/api/jobs/{jobHash}/events", "/api/tx/lock", "/api/tx/submit", "/api/tx/claim", "/api/tx/{txHash}", "/api/payouts/{address}", "/api/balance/{address}"]) {
        expect(Object.keys(r.body.paths)).toContain(path);
      }
    });

    it("documents exactly the routes the server answers", async () => {
      const doc = (await http(url, "GET", "/api/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
      const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
      // The routers read nothing from the context while their routes are declared.
      const ctx = {} as ApiContext;
      const routers = [systemRoutes(ctx, null), marketRoutes(ctx), txRoutes(ctx), buyerRoutes(ctx)];
      const served = routers.flatMap((r) =>
        (r.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>).flatMap((layer) =>
          layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} /api${layer.route!.path.replace(/:([A-Za-z]+)/g, "{$1}")}`) : [],
        ),
      );
      expect(served.sort()).toEqual(documented.sort());
    });

    it("listens beyond loopback only when told to, and then says what it exposes", async () => {
      const base = { chain: stack.chain, nats: stack.nc, ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName }, webDir: null };
      await expect(startApiServer({ ...base, host: "0.0.0.0" })).rejects.toMatchObject({ code: "EXPOSURE_NOT_ALLOWED" });
      const lan = Object.values(networkInterfaces()).flat().find((a) => a?.family === "IPv4" && !a.internal)?.address;
      if (!lan) return;
      const notices: string[] = [];
      const exposed = await startApiServer({ ...base, host: lan, expose: true, announce: (line) => notices.push(line) });
      try {
        expect(notices).toHaveLength(1);
        expect(notices[0]).toContain(exposed.url);
        expect(notices[0]).toMatch(/REST API/);
        expect((await http(exposed.url, "GET", "/api/config")).status).toBe(200);
      } finally {
        await exposed.close();
      }
    });

    it("says how to get the page when it is not built, and refuses a web dir without one", async () => {
      const r = await fetch(`${url}/`);
      expect(r.status).toBe(404);
      expect(await r.text()).toMatch(/npm run build:web/);
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      await expect(startApiServer({ chain: stack.chain, nats: stack.nc, ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName }, webDir: "/nonexistent" })).rejects.toMatchObject({ code: "WEB_NOT_BUILT" });
      await expect(startApiServer({ chain: stack.chain, nats: stack.nc, ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName }, webDir: null, port: stack.api.port })).rejects.toMatchObject({
        code: "API_START_FAILED",
        message: expect.stringMatching(/EADDRINUSE/),
      });
    });

    it("answers unknown API routes with a JSON 404", async () => {
      const r = await http(url, "GET", "/api/nope");
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe("NOT_FOUND");
    });
  });

  describe("offers", () => {
    it("lists the live, verified offer book", async () => {
      const offers = await waitFor("the offer", async () => {
        const r = await http(url, "GET", "/api/offers");
        return r.body.offers?.length ? r.body.offers : undefined;
      });
      expect(offers[0]).toMatchObject({ providerId: stack.provider.id, payoutAddress: stack.provider.payoutAddress, prices: { cpuCoreHour: "1000" } });
      expect((await http(url, "GET", "/api/offers?region=us-east")).body.offers).toEqual([]);
    });

    it("ignores offers whose signature is not the provider's", async () => {
      const offer = await stack.publishOffer({ region: "forged" });
      // The same provider's offer, with another region and nonce, signed by a key that is not its providerId.
      const { signature: _drop, ...body } = { ...offer, region: "forged2", nonce: (BigInt(offer.nonce) + 1n).toString() };
      const forged = { ...body, signature: new SigningKey(Wallet.createRandom().privateKey).sign(offerDigest(body as never)).serialized.toLowerCase() };
      await stack.client.publishOffer(forged);
      await new Promise((r) => setTimeout(r, 500));
      const r = await http(url, "GET", "/api/offers?region=forged2");
      expect(r.body.offers).toEqual([]);
    });

    it("refuses a bad query", async () => {
      const r = await http(url, "GET", "/api/offers?limit=lots");
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: "INVALID_REQUEST", retryable: false });
      expect(r.body.error.message).toMatch(/query\.limit/);
    });
  });

  describe("bids", () => {
    it("publishes a CIP-30 signed bid, which the matcher matches", async () => {
      const { jobHash, job } = await bidAndMatch();
      expect(job.state).toMatch(/matched|confirmed/);
      expect(job.match).toMatchObject({ providerId: stack.provider.id, payoutAddress: stack.provider.payoutAddress, price: PRICE.toString() });
      expect(job.record.jobHash).toBe(jobHash);
    });

    it("is idempotent for the same signed bid, and refuses another bid for the same spec", async () => {
      const unsigned = unsignedWalletBid(buyer, buyerKey);
      const { bid } = await signWalletBid(url, buyer, unsigned);
      expect((await http(url, "POST", "/api/bids", bid)).status).toBe(202);
      const again = await http(url, "POST", "/api/bids", bid);
      expect(again.status).toBe(200);
      expect(again.body.duplicate).toBe(true);
      const { bid: other } = await signWalletBid(url, buyer, { ...unsigned, nonce: (BigInt(unsigned.nonce) + 7n).toString() });
      const conflict = await http(url, "POST", "/api/bids", other);
      expect(conflict.status).toBe(409);
      expect(conflict.body.error.code).toBe("JOB_EXISTS");
    });

    it("refuses unsigned, wrongly signed, expired and malformed bids with stable codes", async () => {
      const unsigned = unsignedWalletBid(buyer, buyerKey);
      const none = await http(url, "POST", "/api/bids", unsigned);
      expect([none.status, none.body.error.code]).toEqual([401, "MARKET_UNSIGNED"]);

      const { bid } = await signWalletBid(url, buyer, unsigned);
      const tampered = await http(url, "POST", "/api/bids", { ...bid, maxPrice: "999999999" });
      expect([tampered.status, tampered.body.error.code]).toEqual([401, "MARKET_BAD_SIGNATURE"]);

      const stranger = await createTestWallet(stack.chain);
      const { bid: byStranger } = await signWalletBid(url, stranger, unsignedWalletBid(stranger, buyerKey));
      const wrongKey = await http(url, "POST", "/api/bids", byStranger);
      expect([wrongKey.status, wrongKey.body.error.code]).toEqual([401, "MARKET_BAD_SIGNATURE"]);

      const { bid: old } = await signWalletBid(url, buyer, unsignedWalletBid(buyer, buyerKey, {}, { expiresAt: Date.now() - 1000 }));
      const expired = await http(url, "POST", "/api/bids", old);
      expect([expired.status, expired.body.error.code]).toEqual([422, "MARKET_EXPIRED"]);

      const malformed = await http(url, "POST", "/api/bids", { ...bid, spec: { ...bid.spec, image: "no tag!" } });
      expect([malformed.status, malformed.body.error.code]).toEqual([400, "MARKET_MALFORMED"]);
      const notJson = await http(url, "POST", "/api/bids", "{not json");
      expect([notJson.status, notJson.body.error.code]).toEqual([400, "INVALID_JSON"]);
      const array = await http(url, "POST", "/api/bids", [1, 2]);
      expect([array.status, array.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
      const wrongType = await http(url, "POST", "/api/bids", "a=1", { headers: { "content-type": "application/x-www-form-urlencoded" } });
      expect([wrongType.status, wrongType.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    });

    it("refuses an oversized body with 413", async () => {
      const r = await http(url, "POST", "/api/bids", { junk: "x".repeat(80 * 1024) });
      expect(r.status).toBe(413);
      expect(r.body.error.code).toBe("BODY_TOO_LARGE");
    });

    it("refuses to prepare a malformed bid", async () => {
      const r = await http(url, "POST", "/api/bids/prepare", { bid: { v: 1, type: "bid" } });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("INVALID_REQUEST");
    });
  });

  describe("jobs", () => {
    it("404s an unknown job and 400s a bad job hash", async () => {
      const unknown = await http(url, "GET", `/api/jobs/${"ab".repeat(32)}`);
      expect([unknown.status, unknown.body.error.code]).toEqual([404, "JOB_NOT_FOUND"]);
      const bad = await http(url, "GET", "/api/jobs/XYZ");
      expect([bad.status, bad.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
      const sse = await http(url, "GET", `/api/jobs/${"cd".repeat(32)}/events`);
      expect([sse.status, sse.body.error.code]).toEqual([404, "JOB_NOT_FOUND"]);
    });

    it("streams a job's stored and live events over SSE with heartbeats, and lets go of NATS when the client leaves", async () => {
      const { jobHash } = await bidAndMatch();
      await stack.client.publishJobEvent(jobHash, { kind: "pulling", jobHash, at: Date.now() });
      const controller = new AbortController();
      const response = await fetch(`${url}/api/jobs/${jobHash}/events`, { signal: controller.signal });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
      const reader = response.body!.getReader();
      let text = "";
      const readUntil = async (pattern: RegExp) => {
        while (!pattern.test(text)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
          text += new TextDecoder().decode(value);
        }
      };
      await readUntil(/event: ready/);
      expect(text).toMatch(/event: record\ndata: \{[^\n]*"state":"(matched|confirmed)"/);
      expect(text).toMatch(/event: match\ndata: \{[^\n]*"jobHash":"[0-9a-f]{64}"/);
      expect(text).toMatch(/event: event\ndata: \{[^\n]*"kind":"pulling"[^\n]*"verified":false/);
      // Live: a log batch and an event published now arrive on the open stream.
      await stack.client.publishJobLog(jobHash, JSON.stringify({ jobHash, lines: [[1, Date.now(), "hello from the job"]] }));
      await readUntil(/hello from the job/);
      await readUntil(/: ping \d+/);
      // The provider confirms: its confirmation and the matcher's updated job record (a KV put) arrive live.
      const { body: job } = await http(url, "GET", `/api/jobs/${jobHash}`);
      await stack.confirm(jobHash, job.match.matchId);
      await readUntil(/event: confirm\ndata: \{[^\n]*"type":"provider-confirm"/);
      await readUntil(/event: record\ndata: \{[^\n]*"state":"confirmed"/);

      const subsFor = async () => {
        const connz = await (await fetch(`http://127.0.0.1:${stack.nats.monitorPort}/connz?subs=1`)).json();
        return (connz.connections as Array<{ name?: string; subscriptions_list?: string[] }>).filter((c) => c.name === "api-test").flatMap((c) => c.subscriptions_list ?? []).filter((s) => s.includes(jobHash)).length;
      };
      expect(await subsFor()).toBe(5);
      controller.abort();
      await waitFor("the SSE subscriptions to go", async () => (await subsFor()) === 0, 10_000);
    });
  });

  describe("lock", () => {
    it("builds the lock tx for a browser wallet, assembles its witness set, and the escrow holds the match price with the right datum", async () => {
      const { jobHash, bid } = await bidAndMatch();
      const { built, txHash } = await lockAndSubmit(buyer, jobHash);
      expect(built.escrow).toMatchObject({ amount: PRICE.toString(), payout: stack.provider.payoutAddress, proofKey: stack.provider.id, deadline: bid.deadline });

      const lucid = await stack.chain.lucid();
      const script = escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
      const escrow = await getEscrowUtxo(lucid, script, { txHash, outputIndex: 0 });
      expect(escrow.utxo.address).toBe(script.address);
      expect(escrow.ntxHeld).toBe(PRICE);
      expect(escrow.datum).toMatchObject({
        jobHash,
        amount: PRICE,
        payout: stack.provider.payoutAddress,
        proofKey: stack.provider.id,
        requester: paymentKeyHashOfPrivateKey(buyer.privateKey),
        deadline: bid.deadline,
        challengeWindow: 2_000,
        state: { kind: "locked" },
      });

      const job = await http(url, "GET", `/api/jobs/${jobHash}`);
      expect(job.body.escrows).toEqual([expect.objectContaining({ outRef: `${txHash}#0`, amount: PRICE.toString(), funded: true, state: "locked" })]);
      // Locking the same job twice would pay twice: refused.
      const again = await http(url, "POST", "/api/tx/lock", { address: buyer.address, utxos: await buyer.api.getUtxos(), jobHash });
      expect([again.status, again.body.error.code]).toEqual([409, "ESCROW_EXISTS"]);
    });

    it("refuses locks it cannot or must not build, with clear codes", async () => {
      const utxos = await buyer.api.getUtxos();
      const unknown = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos, jobHash: "ef".repeat(32) });
      expect([unknown.status, unknown.body.error.code]).toEqual([404, "JOB_NOT_FOUND"]);

      // Fits no offer (more cores than any provider has): a bid, never a match.
      const { bid, jobHash } = await signWalletBid(url, buyer, unsignedWalletBid(buyer, buyerKey, { resources: { cpuCores: 4096, memoryMiB: 8_388_608, diskGiB: 1 } }));
      expect((await http(url, "POST", "/api/bids", bid)).status).toBe(202);
      const unmatched = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos, jobHash });
      expect([unmatched.status, unmatched.body.error.code]).toEqual([409, "JOB_NOT_MATCHED"]);

      const { jobHash: matched } = await bidAndMatch();
      const poor = await createTestWallet(stack.chain);
      await stack.devnet.fund(poor.address, 20_000_000n, 10n);
      const noNtx = await http(url, "POST", "/api/tx/lock", { address: poor.addressHex, utxos: await poor.api.getUtxos(), jobHash: matched });
      expect([noNtx.status, noNtx.body.error.code]).toEqual([422, "INSUFFICIENT_NTX"]);
      expect(noNtx.body.error.message).toMatch(/holds 10 NTX base units; this job costs 1101/);

      const wrongPrice = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos, jobHash: matched, expectedAmount: "5" });
      expect([wrongPrice.status, wrongPrice.body.error.code]).toEqual([409, "PRICE_MISMATCH"]);

      const badUtxo = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: ["8200"], jobHash: matched });
      expect([badUtxo.status, badUtxo.body.error.code]).toEqual([400, "INVALID_UTXO"]);
      const noUtxos = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: [], jobHash: matched });
      expect([noUtxos.status, noUtxos.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
      const badAddress = await http(url, "POST", "/api/tx/lock", { address: "addr_test1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", utxos, jobHash: matched });
      expect([badAddress.status, badAddress.body.error.code]).toEqual([400, "INVALID_ADDRESS"]);
      const mainnet = "01" + buyer.addressHex.slice(2);
      const otherNetwork = await http(url, "POST", "/api/tx/lock", { address: mainnet, utxos, jobHash: matched });
      expect([otherNetwork.status, otherNetwork.body.error.code]).toEqual([400, "INVALID_ADDRESS"]);
      const extra = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos, jobHash: matched, amount: "1" });
      expect([extra.status, extra.body.error.code]).toEqual([400, "INVALID_REQUEST"]);
    });

    it("pays a job once: a second lock of the same job is refused at submit", async () => {
      const { jobHash } = await bidAndMatch();
      const second = await createTestWallet(stack.chain);
      await stack.devnet.fund(second.address, 20_000_000n, 10_000n);
      // Two tabs (two wallets, even) build a lock of the same job before either is submitted.
      const a = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash });
      const b = await http(url, "POST", "/api/tx/lock", { address: second.addressHex, utxos: await second.api.getUtxos(), jobHash });
      expect([a.status, b.status]).toEqual([200, 200]);
      const submittedA = await http(url, "POST", "/api/tx/submit", { tx: a.body.tx, witnessSet: await buyer.api.signTx(a.body.tx, true) });
      expect(submittedA.status).toBe(202);
      const submittedB = await http(url, "POST", "/api/tx/submit", { tx: b.body.tx, witnessSet: await second.api.signTx(b.body.tx, true) });
      expect(submittedB.status).toBe(409);
      expect(["LOCK_PENDING", "ESCROW_EXISTS"]).toContain(submittedB.body.error.code);
      await stack.chain.awaitConfirmation(submittedA.body.txHash);
      const again = await http(url, "POST", "/api/tx/submit", { tx: b.body.tx, witnessSet: await second.api.signTx(b.body.tx, true) });
      expect([again.status, again.body.error.code]).toEqual([409, "ESCROW_EXISTS"]);
      const job = await http(url, "GET", `/api/jobs/${jobHash}`);
      expect(job.body.escrows).toHaveLength(1);
    });

    it("refuses to submit garbage or a transaction signed by the wrong key", async () => {
      const garbage = await http(url, "POST", "/api/tx/submit", { tx: "deadbeef", witnessSet: "a0" });
      expect([garbage.status, garbage.body.error.code]).toEqual([400, "INVALID_TX"]);
      const { jobHash } = await bidAndMatch();
      const built = await http(url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash });
      expect(built.status).toBe(200);
      const stranger = await createTestWallet(stack.chain);
      const witnessSet = await stranger.api.signTx(built.body.tx, true);
      const refused = await http(url, "POST", "/api/tx/submit", { tx: built.body.tx, witnessSet });
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatchObject({ code: "CHAIN_TX_REJECTED", retryable: false });
      // Nothing was locked.
      const job = await http(url, "GET", `/api/jobs/${jobHash}`);
      expect(job.body.escrows).toEqual([]);
    });
  });

  describe("payouts and claims", () => {
    it("lists a provider's escrows with when they become claimable, and builds a batched claim its wallet signs", async () => {
      const jobs = [await bidAndMatch(), await bidAndMatch()];
      const locks = [];
      for (const j of jobs) locks.push(await lockAndSubmit(buyer, j.jobHash));

      // The provider completes both (as its daemon would): EIP-712 proof, Complete tx from its own wallet.
      const lucid = await stack.chain.lucid({ privateKey: stack.provider.cardanoKey });
      const script = escrowScriptFor(lucid, { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName });
      const deployment = await loadDeployment(lucid, script, stack.referenceScript);
      const eth = new Wallet(stack.provider.ethKey);
      for (const lock of locks) {
        const escrow = await getEscrowUtxo(lucid, script, { txHash: lock.txHash, outputIndex: 0 });
        const resultHash = "12".repeat(32);
        const signature = await signCompletionProof(eth, { escrowRef: escrow.escrowRef, jobHash: escrow.datum.jobHash, resultHash });
        await submitTx(lucid, await buildCompleteTx(lucid, { deployment, escrow, resultHash, signature, validForMs: 3_000 }));
      }

      const provider = await createTestWallet(stack.chain, stack.provider.cardanoKey);
      const early = await http(url, "GET", `/api/payouts/${provider.addressHex}`);
      expect(early.status).toBe(200);
      expect(early.body.address).toBe(stack.provider.payoutAddress);
      const completed = early.body.escrows.filter((e: { state: string }) => e.state === "completed");
      expect(completed).toHaveLength(2);
      for (const e of completed) expect(e.claimableAt).toBe(e.completedAt + 2_000);

      const claimable = await waitFor("claimable escrows", async () => {
        const r = await http(url, "GET", `/api/payouts/${provider.address}`);
        const ready = r.body.escrows.filter((e: { claimable: boolean }) => e.claimable);
        return ready.length === 2 ? ready : undefined;
      });
      // The chain's clock must be past the window too (its slots follow block production).
      await new Promise((r) => setTimeout(r, 1_500));
      const before = (await stack.chain.utxosAt(provider.address)).reduce((s, u) => s + (u.assets[stack.ntxUnit] ?? 0n), 0n);
      const claim = await http(url, "POST", "/api/tx/claim", { address: provider.address, utxos: await provider.api.getUtxos() });
      expect(claim.status, JSON.stringify(claim.body)).toBe(200);
      expect(claim.body.escrows.sort()).toEqual(claimable.map((e: { outRef: string }) => e.outRef).sort());
      expect(claim.body.amount).toBe((2n * PRICE).toString());
      const submitted = await http(url, "POST", "/api/tx/submit", { tx: claim.body.tx, witnessSet: await provider.api.signTx(claim.body.tx, true) });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      await stack.chain.awaitConfirmation(submitted.body.txHash);
      const after = (await stack.chain.utxosAt(provider.address)).reduce((s, u) => s + (u.assets[stack.ntxUnit] ?? 0n), 0n);
      expect(after - before).toBe(2n * PRICE);

      const nothing = await http(url, "POST", "/api/tx/claim", { address: provider.address, utxos: await provider.api.getUtxos() });
      expect([nothing.status, nothing.body.error.code]).toEqual([409, "NOTHING_TO_CLAIM"]);
      const gone = await http(url, "POST", "/api/tx/claim", { address: provider.address, utxos: await provider.api.getUtxos(), escrows: [claimable[0].outRef] });
      expect([gone.status, gone.body.error.code]).toEqual([404, "ESCROW_NOT_FOUND"]);
      const left = (await readEscrowUtxos(lucid, script)).escrows.map((e) => `${e.utxo.txHash}#${e.utxo.outputIndex}`);
      for (const e of claimable) expect(left).not.toContain(e.outRef);
    });

    it("shows a balance and refuses a malformed address", async () => {
      const r = await http(url, "GET", `/api/balance/${buyer.address}`);
      expect(r.status).toBe(200);
      expect(BigInt(r.body.lovelace)).toBeGreaterThan(0n);
      const bad = await http(url, "GET", `/api/payouts/${"x".repeat(60)}`);
      expect([bad.status, bad.body.error.code]).toEqual([400, "INVALID_ADDRESS"]);
    });
  });

  describe("buyer routes", () => {
    it("tell a job's phase, check funds before a bid, list the wallet's escrows, and refuse to settle an unlocked job", async () => {
      const config = await http(url, "GET", "/api/buyer/config");
      expect(config.status).toBe(200);
      expect(BigInt(config.body.lockLovelace)).toBeGreaterThan(1_000_000n);

      const { jobHash } = await bidAndMatch();
      const status = await http(url, "GET", `/api/jobs/${jobHash}/status`);
      expect(status.status, JSON.stringify(status.body)).toBe(200);
      expect(status.body.jobHash).toBe(jobHash);
      const result = await http(url, "GET", `/api/jobs/${jobHash}/result`);
      expect([result.status, result.body.error.code]).toEqual([404, "RESULT_NOT_FOUND"]);

      const utxos = await buyer.api.getUtxos();
      const funds = await http(url, "POST", "/api/buyer/funds", { address: buyer.address, utxos, maxPrice: PRICE.toString() });
      expect(funds.status, JSON.stringify(funds.body)).toBe(200);
      const tooMuch = await http(url, "POST", "/api/buyer/funds", { address: buyer.address, utxos, maxPrice: (10n ** 30n).toString() });
      expect([tooMuch.status, tooMuch.body.error.code]).toEqual([422, "INSUFFICIENT_NTX"]);

      const mine = await http(url, "GET", `/api/wallet/${buyer.address}/jobs`);
      expect(mine.status).toBe(200);
      expect(mine.body.escrows.every((e: { jobHash: string }) => e.jobHash !== jobHash)).toBe(true);
      for (const action of ["accept", "dispute", "refund"]) {
        const settle = await http(url, "POST", `/api/tx/${action}`, { address: buyer.address, utxos, jobHash });
        expect([settle.status, settle.body.error.code]).toEqual([404, "ESCROW_NOT_FOUND"]);
      }
    });
  });

  describe("when the chain is unreachable", () => {
    let down: ApiServer;
    beforeAll(async () => {
      const port = await freePort();
      down = await startApiServer({
        chain: createChain({ network: "devnet", blockfrostUrl: `http://127.0.0.1:${port}`, requestTimeoutMs: 2_000 }),
        nats: stack.nc,
        ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName },
        webDir: null,
      });
    });
    afterAll(async () => {
      await down?.close();
    });

    it("answers 503 with a retryable code", async () => {
      const health = await http(down.url, "GET", "/api/health");
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ ok: false, chain: { ok: false, error: { code: "CHAIN_UNREACHABLE" } }, nats: { ok: true } });
      const address = addressOfPrivateKey(newPrivateKey(), "devnet");
      const payouts = await http(down.url, "GET", `/api/payouts/${address}`);
      expect(payouts.status).toBe(503);
      expect(payouts.body.error).toMatchObject({ code: "CHAIN_UNREACHABLE", retryable: true });
      expect(payouts.headers.get("retry-after")).toBe("5");
      const { jobHash } = await bidAndMatch();
      const lock = await http(down.url, "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash });
      expect(lock.status).toBe(503);
      expect(lock.body.error).toMatchObject({ code: "CHAIN_UNREACHABLE", retryable: true });
      // The market's part of the job stays readable; the escrow part says the chain is out.
      const job = await http(down.url, "GET", `/api/jobs/${jobHash}`);
      expect(job.status).toBe(200);
      expect(job.body).toMatchObject({ jobHash, escrows: null, chain: { ok: false, error: { code: "CHAIN_UNREACHABLE", retryable: true } } });
      expect(job.body.match.providerId).toBe(stack.provider.id);
    });
  });

  describe("when NATS is down", () => {
    it("answers 503 with a retryable code, and recovers when it is back", async () => {
      const nats = await startNatsServer({ keepStore: true });
      const nc = await connectNats({ servers: nats.url, name: "api-test-down", maxReconnectAttempts: -1 });
      const api = await startApiServer({ chain: stack.chain, nats: nc, ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName }, webDir: null });
      try {
        expect((await http(api.url, "GET", "/api/health")).status).toBe(200);
        await nats.stop();
        const health = await http(api.url, "GET", "/api/health");
        expect(health.status).toBe(503);
        expect(health.body).toMatchObject({ ok: false, chain: { ok: true }, nats: { ok: false, error: { code: "NATS_UNAVAILABLE" } } });
        const job = await http(api.url, "GET", `/api/jobs/${"ab".repeat(32)}`);
        expect(job.status).toBe(503);
        expect(job.body.error).toMatchObject({ code: "NATS_UNAVAILABLE", retryable: true });
        const { bid } = await signWalletBid(url, buyer, unsignedWalletBid(buyer, buyerKey));
        const posted = await http(api.url, "POST", "/api/bids", bid);
        expect(posted.status).toBe(503);
        expect(posted.body.error.retryable).toBe(true);

        const again = await startNatsServer({ port: nats.port, storeDir: nats.storeDir });
        try {
          await waitFor("NATS to be back", async () => (await http(api.url, "GET", "/api/health")).status === 200, 30_000);
          const retried = await http(api.url, "POST", "/api/bids", bid);
          expect(retried.status).toBe(202);
        } finally {
          await api.close();
          await nc.close();
          await again.stop();
        }
      } finally {
        await api.close();
        await nats.stop();
      }
    });
  });

  // Last: every exchange the tests above made, held to the document the API serves.
  it("answers, and accepts, only what its OpenAPI document says", async () => {
    const doc = (await http(url, "GET", "/api/openapi.json")).body as OpenApiDoc;
    const check = openApiChecker(doc);
    const seen = exchanges.filter((e) => e.path.startsWith("/api/"));
    expect(seen.length).toBeGreaterThan(50);
    const problems = seen.flatMap(check);
    expect(problems).toEqual([]);
    // The check can fail: a real answer with a field of the wrong type does not pass.
    const balance = seen.find((e) => e.path.startsWith("/api/balance/") && e.status === 200)!;
    expect(check({ ...balance, body: { ...(balance.body as object), lovelace: 5 } })).not.toEqual([]);
    const lock = seen.find((e) => e.path === "/api/tx/lock" && e.status === 200)!;
    expect(check({ ...lock, requestBody: { ...(lock.requestBody as object), utxos: [] } })).not.toEqual([]);
    // Every documented route was exercised by a real request.
    // Templates with more literal segments first, so /api/tx/accept is not taken for /api/tx/{txHash}.
    const literals = (t: string) => t.split("/").filter((p) => p && !p.startsWith("{")).length;
    const documented = Object.keys(doc.paths).sort((a, b) => literals(b) - literals(a));
    const hit = new Set(seen.map((e) => documented.find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(e.path))));
    expect(documented.filter((t) => !hit.has(t))).toEqual([]);
  });
});
