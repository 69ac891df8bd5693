import { addressOfPrivateKey, createChain, loadChainConfig } from "../../offchain/chain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { join } from "node:path";
import { escrowScriptFor, leaseScriptFor, loadDeployment, loadLeaseDeployment, MAX_LEASE_CLAIM_BATCH, ntxAsset, type EscrowReads, type LeaseDeployment } from "../../offchain/index.js";
import { createTxBuildPool, type TxBuildPool } from "../runtime/tx-pool/pool.js";
import { connectNats, createMarketClient, ensureMarketInfrastructure, natsOptionsFromEnv, type NatsConnection } from "../nats/index.js";
import { createLucidEscrowGateway } from "./chain/escrow-gateway.js";
import type { ProviderConfig } from "./config.js";
import { ProviderDaemon } from "./daemon.js";
import { detectResources, type DetectedResources } from "./detect.js";
import { DockerRunner } from "./docker/index.js";
import { DockerServiceRunner } from "./docker/service-runner.js";
import { SecretInbox } from "./nats/secret-inbox.js";
import { createChainLeaseSettlement } from "./service/chain-lease-settlement.js";
import { ServiceHost } from "./service/service-host.js";
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
  /**
   * A tx-build pool shared by several providers of one process (the load suite's no-op providers): one thread per
   * core instead of one per provider. Default: the provider's own pool of one thread.
   */
  txBuilds?: TxBuildPool;
  /**
   * Reads of the escrow address shared by several providers of one process (the load suite's no-op providers):
   * one read a moment for all of them. Default: the provider's own (see `openChainGateway`).
   */
  escrowReads?: EscrowReads;
}

export interface ProviderNode {
  providerId: string;
  payoutAddress: string;
  detected: DetectedResources;
  daemon: ProviderDaemon;
  runner: JobRunner;
  market: MarketLoop;
  /** Service jobs (present when the config names a lease deployment). */
  services?: ServiceHost;
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

/**
 * The provider's escrow gateway on its configured chain, signing with its payment key. With `claimsOffThread`
 * (the daemon), Completes and claims are built on one worker thread, one at a time (more wait, up to one per
 * concurrent job plus two; beyond that they are refused and retried on the next pass), each within
 * `limits.claimBuildTimeoutMs`; `close()` stops that thread. `builds` hands in a pool shared with other providers
 * of the same process instead (its owner closes it).
 */
export async function openChainGateway(config: ProviderConfig, paymentKey: string, env: NodeJS.ProcessEnv = process.env, options: { claimsOffThread?: boolean; builds?: TxBuildPool; reads?: EscrowReads } = {}) {
  if (!config.escrow) throw new NtxError("PROVIDER_CONFIG_INVALID", "provider config has no escrow.referenceScript: the provider cannot read or complete escrows");
  const chainConfig = loadChainConfig(env, { network: config.network, ...(config.chainUrl ? { blockfrostUrl: config.chainUrl } : {}) });
  const chain = createChain(chainConfig);
  const lucid = await chain.lucid({ privateKey: paymentKey });
  const [txHash, index] = config.escrow.referenceScript.split("#") as [string, string];
  const script = escrowScriptFor(lucid, ntxAsset(config.network, config.escrow.ntx));
  const deployment = await loadDeployment(lucid, script, { txHash, outputIndex: Number(index) });
  // Every running job may want its Complete built at once, beside one claim: that many may wait.
  const ownBuilds = options.claimsOffThread && !options.builds ? createTxBuildPool(chain, { workers: 1, queue: config.limits.maxConcurrentJobs + 2, timeoutMs: config.limits.claimBuildTimeoutMs }) : undefined;
  const claimBuilds = options.builds ?? ownBuilds;
  return {
    chain,
    lucid,
    gateway: createLucidEscrowGateway({ lucid, deployment, scanReuseMs: escrowScanReuseMs(config), presentFromReadsMs: 2 * config.pollIntervalMs, ...(options.reads ? { reads: options.reads } : {}), ...(claimBuilds ? { claimBuilds } : {}) }),
    ntx: script.ntx,
    ntxUnit: script.ntx.policyId + script.ntx.assetName,
    claimBuilds,
    // A pool handed in belongs to the caller (shared by several providers of one process): it closes it.
    close: async () => ownBuilds?.close(),
  };
}

/** Half a poll (at most a second): the daemon's pass over its waiting jobs reads the escrow address once rather than once per job. */
export function escrowScanReuseMs(config: ProviderConfig): number {
  return Math.min(1_000, config.pollIntervalMs / 2);
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
  const { gateway, lucid, ntx, claimBuilds, close: closeGateway } = await openChainGateway(config, paymentKey, params.env, { claimsOffThread: true, ...(params.txBuilds ? { builds: params.txBuilds } : {}), ...(params.escrowReads ? { reads: params.escrowReads } : {}) });

  progress("connecting to NATS");
  // Credentials and TLS from NTX_NATS_* (as every component); the servers (one or a cluster's, comma-separated) from the config first.
  const natsEnv = natsOptionsFromEnv(params.env ?? process.env);
  const nc = await connectNats({ ...natsEnv, servers: config.natsUrl ?? natsEnv.servers, name: `ntx-provider-${proofKey.providerId.slice(0, 12)}`, maxReconnectAttempts: -1 });
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

  // Service jobs only with a lease deployment: the host starts a service once its lease pays this provider.
  let services: ServiceHost | undefined;
  let inbox: SecretInbox | undefined;
  if (config.lease) {
    const leaseConfig = config.lease;
    const script = leaseScriptFor(lucid);
    let leaseDeployment: LeaseDeployment = { script };
    if (leaseConfig.referenceScript) {
      const [txHash, index] = leaseConfig.referenceScript.split("#") as [string, string];
      leaseDeployment = await loadLeaseDeployment(lucid, script, { txHash, outputIndex: Number(index) });
    }
    const serviceRunner = new DockerServiceRunner({ images: local.runner, stateDir: join(config.stateDir, "services"), labels: { "ntx.provider": proofKey.providerId.slice(0, 16), ...params.labels } });
    let host: ServiceHost | undefined;
    const settlement = createChainLeaseSettlement({
      lucid,
      deployment: leaseDeployment,
      asset: ntx,
      payoutAddress,
      minRatePerSecond: (jobHash) => host?.minRatePerSecond(jobHash),
      ...(claimBuilds ? { claimBuilds } : {}),
    });
    host = new ServiceHost({
      runner: serviceRunner,
      settlement,
      stateDir: join(config.stateDir, "service-jobs"),
      events: sink,
      schedule: { claimIntervalMs: leaseConfig.claimIntervalMs, minClaim: leaseConfig.minClaim, stopMarginMs: leaseConfig.stopMarginMs },
      maxClaimBatch: MAX_LEASE_CLAIM_BATCH,
      tickMs: leaseConfig.tickMs,
      ...(params.onError ? { onError: params.onError } : {}),
    });
    await host.load();
    const serviceHost = host;
    inbox = new SecretInbox({ nc, proofKey, lookup: (jobHash) => serviceHost.lookup(jobHash), onSecrets: (jobHash, files) => serviceHost.onSecrets(jobHash, files), keepSealed: (jobHash, bundle) => serviceHost.keepSealed(jobHash, bundle) });
    await inbox.start();
    // Keys delivered before a restart stay sealed in the state folder: open them again for the jobs taken up.
    for (const bundle of await host.sealedBundles()) await inbox.handle(bundle);
    host.start();
    services = host;
    progress(`taking service jobs: leases at ${script.address}${leaseConfig.referenceScript ? ` (reference script ${leaseConfig.referenceScript})` : " (script inline)"}`);
  }

  const market = new MarketLoop({ client: createMarketClient(nc), config, detected, proofKey, payoutAddress, daemon, preflight: (image) => runner.preflight?.(image) ?? Promise.resolve(), ...(services ? { services } : {}), ...(params.onError ? { onError: params.onError } : {}) });
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
    ...(services ? { services } : {}),
    store,
    nc,
    async stop() {
      market.stop();
      services?.stop();
      inbox?.stop();
      // Closing the build thread first ends a claim build in flight (BUILD_CLOSED, claimed again on the next start)
      // instead of waiting minutes for it.
      const stopping = daemon.stop();
      await closeGateway();
      await stopping;
      await sink.drain().catch(() => undefined);
      await nc.close().catch(() => undefined);
    },
  };
}
