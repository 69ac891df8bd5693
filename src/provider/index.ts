// Public surface of the provider area.
export type {
  JobRunner,
  RunRequest,
  RunRequestInput,
  RunResult,
  RunEvent,
  RunHandle,
  RunOptions,
  RunOutputs,
  RunResources,
  RunLimits,
  EscrowGateway,
  ObservedEscrow,
  OutRef,
  EventSink,
  ResultStore,
  ProviderJobEvent,
} from "./types.js";
export { RunState, runRequestSchema } from "./types.js";
export { DockerRunner, hostConfig, containerOptions, Labels as ContainerLabels } from "./docker/index.js";
export { NoopRunner } from "./noop/noop-runner.js";
export { detectResources, gpuModelToken, type DetectedResources, type DetectedGpu } from "./detect.js";
export { loadProviderConfig, parseProviderConfig, providerConfigSchema, type ProviderConfig, type ProviderConfigInput } from "./config.js";
export { loadProofKey, loadPaymentKey, generateProofKeyFile, proofKeyFromHex, readSecretFile, writeSecretFile, type ProofKey } from "./keys.js";
export { checkImageAllowed, parseImageReference, isPinned } from "./image-policy.js";
export { collectOutputs, collectBuffer, writeEmptyOutputs, type Collected, type CollectLimits } from "./result/collect.js";
export { blake2b256Hex } from "../crypto/sodium.js";
export { parseTar, writeDeterministicTar, TarParser, compareTreeOrder, type TarHeader, type ParsedEntry, type MemoryEntry } from "./result/tar.js";
export { checkEscrow, type EscrowExpectation } from "./escrow-check.js";
export { runRequestFromSpec } from "./job-request.js";
export { JobStateStore, JobPhase, type JobRecord } from "./state-store.js";
export { ProviderDaemon, describeResult, type ProviderDaemonParams, type AcceptParams } from "./daemon.js";
export { createLucidEscrowGateway, toObserved } from "./chain/escrow-gateway.js";
export { NatsEventSink, type LogBatch } from "./nats/event-sink.js";
export { createNatsResultStore } from "./nats/result-store.js";
export { MarketLoop, offerResources, jobEventEncoder } from "./market-loop.js";
export { startProviderNode, openLocal, openChainGateway, type ProviderNode, type ProviderNodeParams } from "./node.js";
