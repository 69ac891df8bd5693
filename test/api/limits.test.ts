/**
 * The API's limits, tried from outside with raw HTTP clients on loopback (each "client" its own source address in
 * 127.0.0.0/8, so the server tells them apart as it would on a network): every flood gets its own code, with
 * Retry-After, while another client keeps being served.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, createChain, newPrivateKey, paymentKeyHashOfPrivateKey } from "../../offchain/chain/index.js";
import { startApiServer } from "../../src/api/index.js";
import { startRecordingProxy } from "../chain/blockfrost-schema.js";
import { encodeEscrowDatum, escrowScript, ntxUnit } from "../../offchain/index.js";
import { createTestWallet, type TestWallet } from "../helpers/wallet.js";
import { bidAndMatch, writeClaimableEscrows } from "./flows.js";
import { http, startStack, waitFor, type Stack } from "./stack.js";

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: any;
}

/** One HTTP request from `from` (a loopback source address); an open event stream is kept and returned. */
function send(url: string, from: string, method: string, path: string, body?: unknown): Promise<Answer & { stream?: { req: ClientRequest; res: IncomingMessage } }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = httpRequest(
      { host: target.hostname, port: target.port, method, path, localAddress: from, agent: false, headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {} },
      (res) => {
        if (res.statusCode === 200 && String(res.headers["content-type"]).startsWith("text/event-stream")) {
          resolve({ status: 200, headers: res.headers, body: null, stream: { req, res } });
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.setTimeout(300_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Runs `count` calls of `task`, at most `width` at a time. */
async function bounded<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/** A CIP-30 `TransactionUnspentOutput` naming an out-ref the chain never saw (only the input is read). */
const madeUpUtxo = () => `828258 20${randomBytes(32).toString("hex")}00a0`.replace(" ", "");

const code = (a: Answer) => (a.body as { error?: { code?: string } })?.error?.code;
const retryAfter = (a: Answer) => Number(a.headers["retry-after"]);

describe("API limits under a flood from one client", () => {
  let stack: Stack;
  let url: string;
  let jobHash: string;
  let buyer: TestWallet;
  const crowded = addressOfPrivateKey(newPrivateKey(), "devnet");
  const CROWDED_UTXOS = 10_000;

  beforeAll(async () => {
    stack = await startStack({
      genesisOutputs: Array.from({ length: CROWDED_UTXOS }, () => ({ address: crowded, lovelace: 1_000_000n })),
      limits: {
        // The stream caps, not the request counter, are what the SSE flood meets first.
        clientRequests: 2_000,
        routeRequests: { "GET /jobs/:p/events": 5_000 },
        sse: { perClient: 8, total: 20 },
        // A 50-escrow claim evaluates its scripts for minutes on a loaded 2-core machine: the timeout answers it.
        builds: { workers: 1, queue: 8, timeoutMs: 45_000 },
        // One held lock at a time, so a test can fill the guard.
        lockGuard: { maxHeld: 1 },
      },
    });
    url = stack.api.url;
    await stack.publishOffer();
    buyer = await createTestWallet(stack.chain);
    await stack.devnet.fund(buyer.address, 100_000_000n, 5_000_000n);
    jobHash = await confirmedJob();
  }, 240_000);

  /** A matched job its provider confirmed (an unconfirmed match lapses after the matcher's window). */
  const confirmedJob = async () => {
    const job = await bidAndMatch(stack, buyer);
    const { body } = await http(url, "GET", `/api/jobs/${job}`);
    await stack.confirm(job, body.record.matchId);
    await waitFor("the confirmation", async () => (await http(url, "GET", `/api/jobs/${job}`)).body.record?.state === "confirmed");
    return job;
  };
  afterAll(async () => {
    await stack?.close();
  });

  it("1,000 event-stream opens from one client: 8 open, the rest SSE_CLIENT_LIMIT; the server-wide cap is SSE_LIMIT; others are served", async () => {
    const answers = await bounded(1_000, 50, () => send(url, "127.0.0.2", "GET", `/api/jobs/${jobHash}/events`));
    const open = answers.filter((a) => a.stream);
    const refused = answers.filter((a) => !a.stream);
    expect(open).toHaveLength(8);
    expect(new Set(refused.map((a) => `${a.status} ${code(a)}`))).toEqual(new Set(["429 SSE_CLIENT_LIMIT"]));
    expect(refused.every((a) => retryAfter(a) > 0)).toBe(true);

    // Another client is served meanwhile, streams included, until the server-wide cap.
    expect((await send(url, "127.0.0.3", "GET", `/api/jobs/${jobHash}`)).status).toBe(200);
    const others = [];
    for (const from of ["127.0.0.3", "127.0.0.4"]) for (let i = 0; i < 8; i++) others.push(await send(url, from, "GET", `/api/jobs/${jobHash}/events`));
    const statuses = others.map((a) => (a.stream ? "open" : `${a.status} ${code(a)}`));
    expect(statuses.filter((s) => s === "open")).toHaveLength(12);
    expect(statuses.filter((s) => s === "503 SSE_LIMIT")).toHaveLength(4);
    expect(others.filter((a) => !a.stream).every((a) => retryAfter(a) > 0)).toBe(true);
    expect((await send(url, "127.0.0.5", "GET", "/api/health")).status).toBe(200);

    // Closing streams gives their slots back.
    for (const a of [...open, ...others]) a.stream?.req.destroy();
    const again = await waitFor("a slot to be free again", async () => (await send(url, "127.0.0.2", "GET", `/api/jobs/${jobHash}/events`)).stream, 30_000);
    again.req.destroy();
  }, 300_000);

  it("a client over its request budget gets RATE_LIMITED with Retry-After; another client does not", async () => {
    const answers = await bounded(700, 20, () => send(url, "127.0.0.6", "GET", "/api/config"));
    const limited = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
    expect(limited.length).toBeGreaterThan(0);
    expect(new Set(limited.map(code))).toEqual(new Set(["RATE_LIMITED"]));
    expect(limited.every((a) => retryAfter(a) > 0 && a.headers["ratelimit-policy"] !== undefined)).toBe(true);
    expect((await send(url, "127.0.0.7", "GET", "/api/config")).status).toBe(200);
  }, 120_000);

  it("500 out-refs in one lock request are read with bounded concurrency and answered; 501 are TOO_MANY_ITEMS", async () => {
    const utxos = Array.from({ length: 500 }, madeUpUtxo);
    const [lock, other] = await Promise.all([
      send(url, "127.0.0.8", "POST", "/api/tx/lock", { address: buyer.addressHex, utxos, jobHash }),
      send(url, "127.0.0.9", "GET", `/api/jobs/${jobHash}`),
    ]);
    expect([lock.status, code(lock)]).toEqual([422, "WALLET_NO_UTXOS"]);
    expect(other.status).toBe(200);
    const tooMany = await send(url, "127.0.0.8", "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: [...utxos, madeUpUtxo()], jobHash });
    expect([tooMany.status, code(tooMany)]).toEqual([413, "TOO_MANY_ITEMS"]);
  }, 120_000);

  it("the lock guard holds a job by the submitted tx's own datum (a hand-built lock the API never built is caught), and a full guard refuses rather than forgets", async () => {
    const lockJob = await confirmedJob();
    const built = await send(url, "127.0.0.14", "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash: lockJob });
    expect(built.status, JSON.stringify(built.body)).toBe(200);
    const submitted = await send(url, "127.0.0.14", "POST", "/api/tx/submit", { tx: built.body.tx, witnessSet: await buyer.api.signTx(built.body.tx, true) });
    expect(submitted.status).toBe(202);
    await stack.chain.awaitConfirmation(submitted.body.txHash);

    // A second lock of the same job, built by hand with Lucid (never by this API), signed by the wallet.
    const ntx = { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName };
    const script = escrowScript(ntx, "Custom");
    const datum = encodeEscrowDatum({ ...built.body.escrow, amount: BigInt(built.body.escrow.amount), state: { kind: "locked" }, requester: paymentKeyHashOfPrivateKey(buyer.privateKey), arbiter: null });
    const lucid = await stack.chain.lucid({ address: buyer.address });
    const handMade = (await lucid.newTx().pay.ToContract(script.address, { kind: "inline", value: datum }, { lovelace: 3_000_000n, [ntxUnit(ntx)]: BigInt(built.body.escrow.amount) }).complete()).toCBOR();
    const again = await send(url, "127.0.0.14", "POST", "/api/tx/submit", { tx: handMade, witnessSet: await buyer.api.signTx(handMade, true) });
    expect([again.status, code(again)]).toEqual([409, "ESCROW_EXISTS"]);

    // Another job's lock: the guard is full (maxHeld 1, the first lock within its hold) and says so.
    const other = await confirmedJob();
    const otherBuilt = await send(url, "127.0.0.14", "POST", "/api/tx/lock", { address: buyer.addressHex, utxos: await buyer.api.getUtxos(), jobHash: other });
    expect(otherBuilt.status).toBe(200);
    const full = await send(url, "127.0.0.14", "POST", "/api/tx/submit", { tx: otherBuilt.body.tx, witnessSet: await buyer.api.signTx(otherBuilt.body.tx, true) });
    expect([full.status, code(full)]).toEqual([503, "LOCK_GUARD_FULL"]);
    expect(retryAfter(full)).toBeGreaterThan(0);
  }, 120_000);

  it("concurrent job reads share one read of the escrow address (single flight), counted at the chain", async () => {
    const proxy = await startRecordingProxy(stack.devnet.url);
    const counted = await startApiServer({
      chain: createChain({ network: "devnet", blockfrostUrl: proxy.url, requestTimeoutMs: 20_000 }),
      nats: stack.nc,
      ntx: { policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName },
      webDir: null,
      limits: { escrowCacheMs: 60_000 },
    });
    try {
      const script = escrowScript({ policyId: stack.devnet.info.ntx.policyId, assetName: stack.devnet.info.ntx.assetName }, "Custom");
      const reads = () => proxy.answers.filter((a) => a.path === `/addresses/${script.address}/utxos` && (a.query === "" || /(^|&)page=1(&|$)/.test(a.query))).length;
      const answers = await bounded(50, 50, () => send(counted.url, "127.0.0.15", "GET", `/api/jobs/${jobHash}`));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(reads()).toBe(1);
      await send(counted.url, "127.0.0.15", "GET", `/api/payouts/${stack.provider.payoutAddress}`);
      expect(reads()).toBe(1);
    } finally {
      await counted.close();
      await proxy.close();
    }
  }, 120_000);

  it("the balance of an address with 10,000 UTxOs is one answer, and others are served meanwhile", async () => {
    const [balance, other] = await Promise.all([send(url, "127.0.0.10", "GET", `/api/balance/${crowded}`), send(url, "127.0.0.11", "GET", "/api/health")]);
    expect(balance.status).toBe(200);
    expect(balance.body).toEqual({ address: crowded, lovelace: String(CROWDED_UTXOS * 1_000_000), ntx: "0" });
    expect(other.status).toBe(200);
  }, 120_000);

  it("100 concurrent 50-escrow claim builds: each answers with its code (built, BUILD_TIMEOUT, BUILD_BUSY or RATE_LIMITED) while the API serves others", async () => {
    const escrows = await writeClaimableEscrows(stack, 50);
    const provider = await createTestWallet(stack.chain, stack.provider.cardanoKey);
    const body = { address: provider.addressHex, utxos: await provider.api.getUtxos(), escrows };

    let claimsDone = 0;
    const claims = bounded(100, 100, async () => {
      const a = await send(url, "127.0.0.12", "POST", "/api/tx/claim", body);
      claimsDone++;
      return a;
    });
    // While the builds run, another client's reads are answered (the builds are on a worker thread).
    const during: Array<{ status: number; claimsDone: number }> = [];
    for (let i = 0; i < 5; i++) {
      const a = await send(url, "127.0.0.13", "GET", `/api/jobs/${jobHash}`);
      during.push({ status: a.status, claimsDone });
    }
    const answers = await claims;
    const byCode = new Map<string, number>();
    for (const a of answers) byCode.set(a.status === 200 ? "200" : `${a.status} ${code(a)}`, (byCode.get(a.status === 200 ? "200" : `${a.status} ${code(a)}`) ?? 0) + 1);
    console.log(`claim flood: ${JSON.stringify(Object.fromEntries(byCode))} ${answers.find((a) => a.status === 422)?.body.error.message ?? ""}`);
    expect(during.every((d) => d.status === 200)).toBe(true);
    // Served before the last build finished: the event loop was not held by them.
    expect(during[0]!.claimsDone).toBeLessThan(100);
    for (const key of byCode.keys()) expect(["200", "503 BUILD_TIMEOUT", "503 BUILD_BUSY", "429 RATE_LIMITED"]).toContain(key);
    expect(byCode.get("503 BUILD_BUSY") ?? 0).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 429 || a.status === 503).every((a) => retryAfter(a) > 0)).toBe(true);
    const built = answers.find((a) => a.status === 200);
    if (built) expect(built.body.escrows).toEqual(escrows);
  }, 600_000);
});
