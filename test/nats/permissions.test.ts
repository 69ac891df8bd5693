import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { bidSubject, confirmSubject, connectNats, createMarketClient, ensureMarketInfrastructure, matchSubject, offerSubject, type NatsConnection } from "../../src/nats/index.js";
import { freePort, ROLE_PASSWORDS, startNatsServerWithRoles, type NatsServer } from "../helpers/nats.js";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { jobHash } from "../../src/market/job-hash.js";
import { createMatcher } from "../../src/market/matcher.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { createNatsMarketTransport } from "../../src/nats/index.js";
import { makeBid, makeOffer, newBuyer, newProvider } from "../market/fixtures.js";
import { decodeJson, waitFor } from "../market/harness.js";

const configFile = fileURLToPath(new URL("../../config/nats/ntx.conf", import.meta.url));
const passwords = ROLE_PASSWORDS;
let server: NatsServer;
const connections: NatsConnection[] = [];

async function as(role: keyof typeof passwords) {
  const nc = await connectNats({ servers: server.url, user: role, pass: passwords[role], name: role });
  connections.push(nc);
  return createMarketClient(nc);
}

async function denied(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return isNtxError(error) ? `${error.code}: ${error.message}` : String(error);
  }
  return "allowed";
}

const h = "cd".repeat(32);
const provider = `02${"ab".repeat(32)}`;
const data = new TextEncoder().encode("{}");

beforeAll(async () => {
  // The shipped users and permissions, on a test server (own port and store dir).
  server = await startNatsServerWithRoles();
  const nc = await connectNats({ servers: server.url, user: "matcher", pass: passwords.matcher });
  connections.push(nc);
  await ensureMarketInfrastructure(nc);
});
afterAll(async () => {
  for (const c of connections) await c.close().catch(() => undefined);
  await server?.stop();
});

describe("shipped NATS users and subject permissions (config/nats)", () => {
  it("ships a server config that nats-server accepts", () => {
    const check = spawnSync("nats-server", ["-c", configFile, "-t"], { encoding: "utf8" });
    expect(check.stderr + check.stdout).toContain("is valid");
  });

  it("lets each role publish what it must and nothing that belongs to another role", async () => {
    const providerClient = await as("provider");
    const buyer = await as("buyer");
    const matcher = await as("matcher");
    const api = await as("api");

    expect(await denied(providerClient.publishRaw(offerSubject("eu", provider), data))).toBe("allowed");
    expect(await denied(providerClient.publishRaw(confirmSubject(h), data))).toBe("allowed");
    expect(await denied(providerClient.publishRaw(matchSubject(h), data))).toMatch(/NATS_PUBLISH.*[Pp]ermission/);
    expect(await denied(providerClient.publishRaw(bidSubject(h), data))).toMatch(/NATS_PUBLISH.*[Pp]ermission/);
    expect(await denied(providerClient.publishRaw(`$KV.ntx-capacity.${provider}`, data))).toMatch(/NATS_PUBLISH.*[Pp]ermission/);

    expect(await denied(buyer.publishRaw(bidSubject(h), data))).toBe("allowed");
    expect(await denied(buyer.publishRaw(offerSubject("eu", provider), data))).toMatch(/[Pp]ermission/);
    expect(await denied(buyer.publishRaw(confirmSubject(h), data))).toMatch(/[Pp]ermission/);
    expect(await denied(buyer.publishRaw(matchSubject(h), data))).toMatch(/[Pp]ermission/);

    expect(await denied(matcher.publishRaw(matchSubject(h), data))).toBe("allowed");
    expect(await denied(matcher.publishRaw(bidSubject("ef".repeat(32)), data))).toMatch(/[Pp]ermission/);
    expect(await denied(matcher.publishRaw(confirmSubject(h), data))).toMatch(/[Pp]ermission/);

    expect(await denied(api.publishRaw(bidSubject("ef".repeat(32)), data))).toBe("allowed");
    expect(await denied(api.publishRaw(matchSubject(h), data))).toMatch(/[Pp]ermission/);

    // What the streams hold is exactly what was allowed.
    const matches = await matcher.readStream("matches");
    expect(matches.map((m) => m.subject).sort()).toEqual([confirmSubject(h), matchSubject(h)].sort());
    const bids = await matcher.readStream("bids");
    expect(bids.map((m) => m.subject).sort()).toEqual([bidSubject(h), bidSubject("ef".repeat(32))].sort());
  });

  it("runs the whole market with each role on its own user: offer, bid, match, confirm", async () => {
    const matcherNc = await connectNats({ servers: server.url, user: "matcher", pass: passwords.matcher });
    connections.push(matcherNc);
    const matcher = createMatcher({ transport: await createNatsMarketTransport(matcherNc), durable: "perm", verifyWorkers: 0 });
    await matcher.start();
    try {
      const providerClient = await as("provider");
      const buyerClient = await as("buyer");
      const p = newProvider();
      await providerClient.publishOffer(makeOffer(p, { region: "perm" }));
      await waitFor("offer in the book", () => matcher.book.get(p.id));
      let match: MatchInput | undefined;
      const stop = providerClient.onMatch((_s, d) => (match = decodeJson<MatchInput>(d)));
      const bid = makeBid(newBuyer(), { regions: ["perm"] });
      const hash = jobHash(bid.spec);
      await buyerClient.publishBid(hash, bid);
      const m = await waitFor("the provider to see its match", () => match);
      stop();
      expect(m.offer.providerId).toBe(p.id);
      await providerClient.publishConfirm(hash, signProviderConfirm(p.privateKey, { v: 1, type: "provider-confirm", matchId: m.matchId, jobHash: hash, providerId: p.id, confirmedAt: Date.now() }));
      await waitFor("confirmed", async () => (await matcher.metrics.confirmed.get()).values[0]?.value === 1);
    } finally {
      await matcher.stop();
    }
  });

  it("refuses a wrong password and reports an unreachable server as retryable", async () => {
    const bad = await connectNats({ servers: server.url, user: "provider", pass: "wrong" }).catch((e: unknown) => e);
    expect(isNtxError(bad, "NATS_AUTH")).toBe(true);
    const port = await freePort();
    const down = await connectNats({ servers: `nats://127.0.0.1:${port}`, timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(isNtxError(down, "NATS_UNREACHABLE")).toBe(true);
    expect((down as { retryable: boolean }).retryable).toBe(true);
  });
});
