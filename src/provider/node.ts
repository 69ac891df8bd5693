import { addressOfPrivateKey, createChain, loadChainConfig } from "../../offchain/chain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { escrowScriptFor, loadDeployment, ntxAsset } from "../../offchain/index.js";
import { connectNats, createMarketClient, ensureMarketInfrastructure, type NatsConnection } from "../nats/index.js";
import { createLucidEscrowGateway } from "./chain/escrow-gateway.js";
import type { ProviderConfig } from "./config.js";
import { ProviderDaemon } from "./daemon.js";
import { detectResources, type DetectedResources } from "./detect.js";
import { DockerRunner } from "./docker/index.js";
import { loadPaymentKey, loadProofKey, type ProofKey } from "./keys.js";
import { jobEventEncoder, MarketLoop } from "./market-loop.js";
import { NatsEventSink } from "./nats/event-sink.js";
import { createNatsResultStore } from "./nats/result-store.js";
import { JobPhase, JobStateStore } from "./state-store.js";
import type { JobRunner } from "./types.js";

export interface ProviderNodeParams {
  config: ProviderConfig;
  env?: NodeJS.ProcessEnv;
  /** Human progress lines (the CLI prints them). */
  progress?: (message: string) => void;
  onError?: (error: unknown, jobHash?: string) => void;
  /** Extra labels on every container (tests use them to find and clean their containers). */
  labels?: Record<string, string>;
  /** Runs jobs instead of Docker (the load and fault suites' no-op providers); default the Docker runner. */
  runner?: JobRunner & { preflight?: (image: string) => Promise<void> };
}

export interface ProviderNode {
  providerId: string;
  payoutAddress: string;
  detected: DetectedResources;
  daemon: ProviderDaemon;
  runner: JobRunner;
  market: MarketLoop;
  store: JobStateStore;
  nc: NatsConnection;
  stop(): Promise<void>;
}

/** Opens the keys, the state file and the Docker runner: enough for status/payouts, without chain or NATS. */
export async function openLocal(config: ProviderConfig, labels: Record<string, string> = {}): Promise<{ proofKey: ProofKey; paymentKey: string; payoutAddress: string; store: JobStateStore; runner: DockerRunner }> {
  const proofKey = await loadProofKey(config.keys.proofKeyFile);
  const paymentKey = await loadPaymentKey(config.keys.paymentKeyFile);
  const payoutAddress = addressOfPrivateKey(paymentKey, config.network);
  const store = await JobStateStore.open(config.stateDir);
  const runner = new DockerRunner({ allowImages: config.images, keeperBinary: config.keeperBinary, labels: { "ntx.provider": proofKey.providerId.slice(0, 16), ...labels } });
  return { proofKey, paymentKey, payoutAddress, store, runner };
}

/** The provider's escrow gateway on its configured chain, signing with its payment key. */
export async function openChainGateway(config: ProviderConfig, paymentKey: string, env: NodeJS.ProcessEnv = process.env) {
  if (!config.escrow) throw new NtxError("PROVIDER_CONFIG_INVALID", "provider config has no escrow.referenceScript: the provider cannot read or complete escrows");
  const chainConfig = loadChainConfig(env, { network: config.network, ...(config.chainUrl ? { blockfrostUrl: config.chainUrl } : {}) });
  const chain = createChain(chainConfig);
  const lucid = await chain.lucid({ privateKey: paymentKey });
  const [txHash, index] = config.escrow.referenceScript.split("#") as [string, string];
  const script = escrowScriptFor(lucid, ntxAsset(config.network, config.escrow.ntx));
  const deployment = await loadDeployment(lucid, script, { txHash, outputIndex: Number(index) });
  return { chain, gateway: createLucidEscrowGateway({ lucid, deployment }), ntxUnit: script.ntx.policyId + script.ntx.assetName };
}

/** Wires detection, chain, NATS, Docker and the daemon together and starts them. */
export async function startProviderNode(params: ProviderNodeParams): Promise<ProviderNode> {
  const { config } = params;
  const progress = params.progress ?? (() => undefined);
  if (!config.escrow) throw new NtxError("PROVIDER_CONFIG_INVALID", "provider config has no escrow.referenceScript: the provider cannot read or complete escrows");
  const local = await openLocal(config, params.labels);
  const { proofKey, paymentKey, payoutAddress, store } = local;
  const runner: JobRunner & { preflight?: (image: string) => Promise<void> } = params.runner ?? local.runner;

  progress("detecting hardware");
  const detected = await detectResources({ diskPath: config.dockerRoot }).catch(() => detectResources({ diskPath: config.stateDir }));
  progress(`detected ${detected.cpuCores} cores, ${detected.memoryMiB} MiB, ${detected.diskFreeGiB} GiB free, ${detected.gpus.length} GPU(s)`);

  progress(`connecting to the ${config.network} chain`);
  const { gateway } = await openChainGateway(config, paymentKey, params.env);

  progress("connecting to NATS");
  const nc = await connectNats({ servers: config.natsUrl ?? (params.env ?? process.env).NTX_NATS_URL ?? "nats://127.0.0.1:4222", name: `ntx-provider-${proofKey.providerId.slice(0, 12)}`, maxReconnectAttempts: -1 });
  await ensureMarketInfrastructure(nc).catch((error: unknown) => params.onError?.(error));
  const sink = new NatsEventSink({ nc, encodeEvent: jobEventEncoder(proofKey), idPrefix: proofKey.providerId });

  const daemon = new ProviderDaemon({
    runner,
    gateway,
    store,
    proofKey,
    payoutAddress,
    events: sink,
    results: createNatsResultStore(nc),
    maxConcurrentJobs: config.limits.maxConcurrentJobs,
    terms: { ...config.terms, arbiters: [...config.terms.arbiters] },
    completeMarginMs: config.limits.completeMarginMs,
    ...(params.onError ? { onError: params.onError } : {}),
    onUploadProgress: (jobHash, sent, total) => progress(`uploading result of ${jobHash.slice(0, 12)}…: ${Math.round((100 * sent) / total)}%`),
  });

  // Containers of this provider that no open job points at are leftovers of a crash: remove them.
  const referenced = new Set(store.all().filter((r) => r.observed.phase === JobPhase.Running).map((r) => r.observed.handle?.containerId));
  for (const handle of await runner.list()) {
    if (!referenced.has(handle.containerId)) await runner.discard(handle);
  }

  const market = new MarketLoop({ client: createMarketClient(nc), config, detected, proofKey, payoutAddress, daemon, preflight: (image) => runner.preflight?.(image) ?? Promise.resolve(), ...(params.onError ? { onError: params.onError } : {}) });
  daemon.start(config.pollIntervalMs);
  await market.start();
  progress(`provider ${proofKey.providerId} running, payouts to ${payoutAddress}`);
  return {
    providerId: proofKey.providerId,
    payoutAddress,
    detected,
    daemon,
    runner,
    market,
    store,
    nc,
    async stop() {
      market.stop();
      await daemon.stop();
      await sink.drain().catch(() => undefined);
      await nc.close().catch(() => undefined);
    },
  };
}
