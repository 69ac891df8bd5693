/**
 * What the attack tests share: a live matcher (real verifier threads) on a real nats-server, and an attacker's
 * raw NATS connection that publishes whatever it likes with plain JetStream publishes (a request to the
 * subject; the reply is the stream's ack), never through the project's client.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll } from "vitest";
import { signProviderConfirm } from "../../src/market/eip712.js";
import { createMatcher, type Matcher, type MatcherParams } from "../../src/market/matcher.js";
import type { MatchInput } from "../../src/market/schemas.js";
import { decodeJson, startMarket, type Market } from "./harness.js";
import type { Provider } from "./fixtures.js";

export async function liveMatcher(market: Market, params: Partial<MatcherParams> = {}): Promise<Matcher> {
  const { transport } = await market.transport();
  const matcher = createMatcher({ transport, verifyWorkers: 2, confirmWindowMs: 5_000, noFitRetryMs: 500, ...params });
  await matcher.start();
  return matcher;
}

export interface Attacker {
  nc: NatsConnection;
  /** JetStream publish by hand: the stream's ack, or its error, as text. */
  publish(subject: string, data: Uint8Array | string): Promise<string>;
  /** Fire-and-forget publishes, then one round trip so the server has them all. */
  flood(messages: Array<[string, Uint8Array | string]>): Promise<void>;
  close(): Promise<void>;
}

export async function attacker(url: string): Promise<Attacker> {
  const nc = await connect({ servers: url, name: "attacker" });
  return {
    nc,
    async publish(subject, data) {
      const reply = await nc.request(subject, data, { timeout: 5_000 });
      return reply.string();
    },
    async flood(messages) {
      for (const [subject, data] of messages) nc.publish(subject, data);
      await nc.flush();
    },
    close: () => nc.close(),
  };
}

/** Rejections the matcher counted, as `kind/reason` → count. */
export async function rejections(matcher: Matcher): Promise<Record<string, number>> {
  const m = await matcher.metrics.rejected.get();
  return Object.fromEntries(m.values.map((v) => [`${v.labels.kind}/${v.labels.reason}`, v.value]));
}

export const counter = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0;

/** Providers that confirm each match they get at once, as a provider daemon would; returns a stop function. */
export function confirmEveryMatch(market: Market, providers: Provider[]): () => void {
  const byId = new Map(providers.map((p) => [p.id, p]));
  return market.client.onMatch((_s, data) => {
    const m = decodeJson<MatchInput>(data);
    const p = byId.get(m.offer.providerId);
    if (!p) return;
    void market.client.publishConfirm(m.jobHash, signProviderConfirm(p.privateKey, { v: 1, type: "provider-confirm", matchId: m.matchId, jobHash: m.jobHash, providerId: p.id, confirmedAt: Date.now() }));
  });
}

/** A suite's market, attacker and live matchers, set up before its tests and all stopped after them. */
export interface Arena {
  market: Market;
  evil: Attacker;
  matchers: Matcher[];
  /** A live matcher, stopped with the suite (or earlier, by `stopMatchers`). */
  matcher(params?: Partial<MatcherParams>): Promise<Matcher>;
  stopMatchers(): Promise<void>;
}

export function arena(): Arena {
  const a = { matchers: [] as Matcher[] } as Arena;
  a.matcher = async (params = {}) => {
    const m = await liveMatcher(a.market, params);
    a.matchers.push(m);
    return m;
  };
  a.stopMatchers = async () => {
    for (const m of a.matchers.splice(0)) await m.stop();
  };
  beforeAll(async () => {
    a.market = await startMarket();
    a.evil = await attacker(a.market.server.url);
  });
  afterAll(async () => {
    await a.stopMatchers();
    await a.evil?.close();
    await a.market?.close();
  });
  return a;
}
