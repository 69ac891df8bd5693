/**
 * The real parts behind the API for its tests: a nats-server with JetStream, a devnet chain server (blocks every
 * `blockTimeMs`), the market's matcher, a provider that publishes a signed offer (its payout address a funded
 * Cardano key) and confirms matches, the escrow's reference script deployed, and the API server itself.
 */
import { Wallet } from "ethers";
import { addressOfPrivateKey, newPrivateKey, type Chain } from "../../offchain/chain/index.js";
import { buildDeployReferenceScriptTx, escrowScriptFor, submitTx } from "../../offchain/index.js";
import { startApiServer, type ApiLimitsInput, type ApiServer } from "../../src/api/index.js";
import { createMatcher, providerIdOf, signOffer, signProviderConfirm, type Matcher, type OfferInput, type UnsignedOffer } from "../../src/market/index.js";
import { connectNats, createMarketClient, createNatsMarketTransport, type MarketClient, type NatsConnection, type NatsMarketTransport } from "../../src/nats/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";
import { unsignedOffer } from "../market/fixtures.js";

export interface TestProvider {
  ethKey: string;
  id: string;
  cardanoKey: string;
  payoutAddress: string;
}

export interface Stack {
  nats: NatsServer;
  devnet: TestDevnet;
  chain: Chain;
  nc: NatsConnection;
  client: MarketClient;
  api: ApiServer;
  matcher: Matcher;
  provider: TestProvider;
  referenceScript: { txHash: string; outputIndex: number };
  ntxUnit: string;
  publishOffer(over?: Partial<UnsignedOffer>): Promise<OfferInput>;
  /** The provider confirms the job's current match (as its daemon would). */
  confirm(jobHash: string, matchId: string): Promise<void>;
  close(): Promise<void>;
}

export interface StackOptions {
  webDir?: string | null;
  challengeWindowMs?: number;
  blockTimeMs?: number;
  limits?: ApiLimitsInput;
  /** Extra genesis outputs of the devnet (an address with thousands of UTxOs). */
  genesisOutputs?: Array<{ address: string; lovelace: bigint }>;
  sseHeartbeatMs?: number;
  /** How long the matcher waits for a provider's confirmation (default 60 s). */
  confirmWindowMs?: number;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const [nats, devnet] = await Promise.all([startNatsServer(), startTestDevnet({ blockTimeMs: options.blockTimeMs ?? 300, ...(options.genesisOutputs ? { genesisOutputs: options.genesisOutputs } : {}) })]);
    cleanups.push(() => nats.stop(), () => devnet.stop());
    const chain = devnet.chain();
    const nc = await connectNats({ servers: nats.url, name: "api-test" });
    cleanups.push(() => nc.close());
    const matcherNc = await connectNats({ servers: nats.url, name: "api-test-matcher" });
    cleanups.push(() => matcherNc.close());
    const matcherTransport: NatsMarketTransport = await createNatsMarketTransport(matcherNc);
    cleanups.push(() => matcherTransport.close());
    const client = createMarketClient(nc);

    const ntx = { policyId: devnet.info.ntx.policyId, assetName: devnet.info.ntx.assetName };
    const deployerKey = newPrivateKey();
    const providerCardanoKey = newPrivateKey();
    const payoutAddress = addressOfPrivateKey(providerCardanoKey, "devnet");
    await Promise.all([devnet.fund(addressOfPrivateKey(deployerKey, "devnet"), 100_000_000n), devnet.fund(payoutAddress, 50_000_000n)]);
    const deployer = await chain.lucid({ privateKey: deployerKey });
    const deployHash = await submitTx(deployer, await buildDeployReferenceScriptTx(deployer, { script: escrowScriptFor(deployer, ntx) }));
    const referenceScript = { txHash: deployHash, outputIndex: 0 };

    const matcher = createMatcher({ transport: matcherTransport, verifyWorkers: 0, confirmWindowMs: options.confirmWindowMs ?? 60_000 });
    await matcher.start();
    cleanups.push(() => matcher.stop());

    const api = await startApiServer({
      chain,
      nats: nc,
      ntx,
      escrow: { referenceScript, challengeWindowMs: options.challengeWindowMs ?? 2_000 },
      webDir: options.webDir ?? null,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.sseHeartbeatMs ? { sseHeartbeatMs: options.sseHeartbeatMs } : {}),
    });
    cleanups.push(() => api.close());

    const eth = Wallet.createRandom();
    const provider: TestProvider = { ethKey: eth.privateKey, id: providerIdOf(eth.privateKey), cardanoKey: providerCardanoKey, payoutAddress };
    const stack: Stack = {
      nats,
      devnet,
      chain,
      nc,
      client,
      api,
      matcher,
      provider,
      referenceScript,
      ntxUnit: devnet.info.ntx.unit,
      async publishOffer(over = {}) {
        const unsigned = unsignedOffer(
          { privateKey: provider.ethKey, id: provider.id },
          // Roomy, so the many unconfirmed matches of a test file never exhaust it.
          { payoutAddress, resources: { cpuCores: 4096, memoryMiB: 4_194_304, diskGiB: 100_000, gpus: [] }, ...over },
        );
        const offer = signOffer(provider.ethKey, unsigned) as OfferInput;
        await client.publishOffer(offer);
        return offer;
      },
      async confirm(jobHash, matchId) {
        const confirm = signProviderConfirm(provider.ethKey, { v: 1, type: "provider-confirm", matchId, jobHash, providerId: provider.id, confirmedAt: Date.now() });
        await client.publishConfirm(jobHash, confirm);
      },
      close,
    };
    return stack;
  } catch (error) {
    await close();
    throw error;
  }
}

export async function waitFor<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One request and its answer, as `http` saw them (the OpenAPI check validates them all). */
export interface Exchange {
  method: string;
  path: string;
  requestBody: unknown;
  status: number;
  contentType: string;
  body: unknown;
}

/** Every exchange `http` made in this test process, oldest first (bounded: a test file makes a few hundred). */
export const exchanges: Exchange[] = [];
const MAX_EXCHANGES = 20_000;

export async function http<T = any>(base: string, method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<HttpResult<T>> {
  const response = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } }),
    ...init,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (exchanges.length < MAX_EXCHANGES) {
    exchanges.push({ method, path: path.split("?")[0]!, requestBody: body, status: response.status, contentType: response.headers.get("content-type") ?? "", body: parsed });
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}
