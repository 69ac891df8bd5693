import { LeasePhase } from "./service/lease-keeper.js";
import { NtxError, isNtxError } from "../../offchain/errors.js";
import {
  Match,
  PROTOCOL_VERSION,
  jobHash as computeJobHash,
  jobPrice,
  signJobEvent,
  signOffer,
  signProviderConfirm,
  type JobEventKind,
  type UnsignedOffer,
} from "../market/index.js";
import type { MarketClient } from "../nats/index.js";
import type { ProviderConfig } from "./config.js";
import type { ProviderDaemon } from "./daemon.js";
import { gpuModelToken, type DetectedResources } from "./detect.js";
import { checkImageAllowed } from "./image-policy.js";
import { runRequestFromSpec } from "./job-request.js";
import type { ProofKey } from "./keys.js";
import { JobPhase } from "./state-store.js";
import type { ProviderJobEvent, RunEvent } from "./types.js";
import type { ServiceHost } from "./service/service-host.js";
import { serviceRequestFromSpec } from "./service/service-request.js";

/** What this provider offers: what the machine has, capped by the configured limits, minus accepted open jobs. */
export function offerResources(detected: DetectedResources, config: ProviderConfig, busy: { cpuCores: number; memoryMiB: number; gpus: number }) {
  const { limits } = config;
  const gpus = detected.gpus
    .filter((g) => g.usable)
    .slice(0, Math.max(0, limits.maxGpus - busy.gpus))
    .map((g) => ({ model: gpuModelToken(g.model), vramMiB: g.vramMiB ?? 1 }));
  return {
    cpuCores: Math.max(0, Math.min(detected.cpuCores, limits.maxCpuCores) - busy.cpuCores),
    memoryMiB: Math.max(0, Math.min(detected.memoryMiB, limits.maxMemoryMiB) - busy.memoryMiB),
    diskGiB: Math.min(detected.diskFreeGiB, limits.maxDiskGiB),
    gpus,
  };
}

const textDecoder = new TextDecoder();

/** Phases in which a job holds this provider's capacity. */
const HOLDING_PHASES: readonly string[] = [JobPhase.AwaitingEscrow, JobPhase.Locked, JobPhase.Running];
const holdsCapacity = (r: { observed: { phase: string } }) => HOLDING_PHASES.includes(r.observed.phase);

export interface MarketLoopParams {
  client: MarketClient;
  config: ProviderConfig;
  detected: DetectedResources;
  proofKey: ProofKey;
  payoutAddress: string;
  daemon: ProviderDaemon;
  onError?: (error: unknown) => void;
  /** Checks a job's image on this host before confirming (the Docker runner's preflight); throws NtxError to decline. */
  preflight?: (image: string) => Promise<void>;
  /** Takes service jobs (paid by a lease); without it (no lease deployment configured) service matches are declined. */
  services?: Pick<ServiceHost, "accept">;
  /** Called for each match this provider confirmed or declined (tests, CLI progress). */
  onDecision?: (jobHash: string, decision: "confirmed" | "declined", reason?: string) => void;
}

/**
 * The provider's side of the market: publishes signed offers as heartbeats (each expires after three periods, so
 * a provider that dies drops out of the book) and confirms the matches it can still serve, handing them to the
 * daemon. A match it cannot serve is left unconfirmed: the reservation lapses and the matcher re-matches the bid.
 */
export class MarketLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopMatches: (() => void) | undefined;
  private nonce = BigInt(Date.now()) * 1000n;

  constructor(private readonly params: MarketLoopParams) {}

  private busy() {
    const open = this.params.daemon.status(holdsCapacity);
    return open.reduce(
      (sum, r) => ({ cpuCores: sum.cpuCores + Math.ceil(r.desired.request.resources.cpuCores), memoryMiB: sum.memoryMiB + r.desired.request.resources.memoryMiB, gpus: sum.gpus + r.desired.request.resources.gpus }),
      { cpuCores: 0, memoryMiB: 0, gpus: 0 },
    );
  }

  /** Signs and publishes the current offer in every configured region. */
  async publishOffers(): Promise<void> {
    const { config, proofKey } = this.params;
    const resources = offerResources(this.params.detected, config, this.busy());
    for (const region of config.regions) {
      const unsigned: UnsignedOffer = {
        v: PROTOCOL_VERSION,
        type: "offer",
        providerId: proofKey.providerId,
        payoutAddress: this.params.payoutAddress,
        region,
        attributes: config.attributes,
        resources,
        prices: {
          cpuCoreHour: config.prices.cpuCoreHour.toString(),
          memoryGiBHour: config.prices.memoryGiBHour.toString(),
          diskGiBHour: config.prices.diskGiBHour.toString(),
          gpuHour: config.prices.gpuHour.toString(),
        },
        maxDurationMs: config.limits.maxDurationMs,
        terms: config.terms,
        expiresAt: Date.now() + 3 * config.offerIntervalMs,
        nonce: (this.nonce++).toString(),
      };
      await this.params.client.publishOffer(signOffer(proofKey.privateKey, unsigned));
    }
  }

  async start(): Promise<void> {
    this.stopMatches = this.params.client.onMatch((_subject, data) => {
      void this.onMatch(data).catch((error: unknown) => this.params.onError?.(error));
    });
    await this.publishOffers();
    const beat = () => {
      this.timer = setTimeout(() => {
        void this.publishOffers().catch((error: unknown) => this.params.onError?.(error)).finally(() => { if (this.timer) beat(); });
      }, this.params.config.offerIntervalMs);
    };
    beat();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopMatches?.();
  }

  /** Decides on one match message; returns the decision (also reported through onDecision). */
  async onMatch(data: Uint8Array): Promise<"confirmed" | "declined" | "ignored"> {
    const { proofKey, config, daemon } = this.params;
    let match: Match;
    try {
      const json: unknown = JSON.parse(textDecoder.decode(data));
      // Every provider hears every match: the others' are dropped before the full schema check, which cost each
      // of the load suite's 48 providers more than the rest of their share of a match.
      if ((json as { offer?: { providerId?: unknown } } | null)?.offer?.providerId !== proofKey.providerId) return "ignored";
      match = Match.parse(json);
    } catch {
      return "ignored";
    }
    if (match.offer.providerId !== proofKey.providerId) return "ignored";
    const decline = (reason: string) => {
      this.params.onDecision?.(match.jobHash, "declined", reason);
      return "declined" as const;
    };
    if (match.confirmBy < Date.now()) return decline("confirmation window already over");
    if (computeJobHash(match.bid.spec) !== match.jobHash) return decline("jobHash does not match the bid's spec");
    // A service (a stake-pool node) is paid by a lease, not an escrow: the batch daemon must never run one; the
    // service host does, once its lease is on-chain. Without a lease deployment there is no host: declined.
    if (match.bid.spec.kind === "service" && !this.params.services) return decline("this provider takes no service jobs (no lease deployment configured)");
    const ownPrice = jobPrice(config.prices, match.bid.spec.resources, match.bid.spec.maxDurationMs);
    if (match.price < ownPrice) return decline(`price ${match.price} is below this provider's ${ownPrice}`);
    // The terms the match was made on must be this provider's own, and the bid's within them: the escrow is
    // checked against these later, so a match outside them would only be confirmed to be refused.
    const terms = config.terms;
    const offered = match.offer.terms;
    if (offered.arbiters.join() !== terms.arbiters.join() || offered.maxChallengeWindowMs !== terms.maxChallengeWindowMs || offered.maxDeadlineMs !== terms.maxDeadlineMs || offered.lockWindowMs !== terms.lockWindowMs) {
      return decline("the match's offer terms are not this provider's current terms");
    }
    const bidTerms = match.bid.terms;
    if (bidTerms.arbiter !== undefined && !terms.arbiters.includes(bidTerms.arbiter)) return decline(`arbiter ${bidTerms.arbiter} is not one this provider accepts`);
    if (bidTerms.challengeWindowMs > terms.maxChallengeWindowMs) return decline(`challenge window ${bidTerms.challengeWindowMs} ms exceeds ${terms.maxChallengeWindowMs} ms`);
    if (match.bid.deadline > match.matchedAt + terms.maxDeadlineMs) return decline(`deadline lies beyond this provider's horizon of ${terms.maxDeadlineMs} ms`);
    if (match.bid.spec.kind === "service") return this.acceptService(match, decline);
    let request;
    try {
      // The allow-list before confirming: once confirmed, the buyer locks money for it.
      checkImageAllowed(match.bid.spec.image, config.images);
      await this.params.preflight?.(match.bid.spec.image);
      request = runRequestFromSpec({ spec: match.bid.spec, jobHash: match.jobHash, limits: config.limits, gpuIndices: match.reserved.gpuIndices });
    } catch (error) {
      if (isNtxError(error)) return decline(error.message);
      throw error;
    }
    const known = daemon.status((r) => r.jobHash === match.jobHash)[0];
    if (!known) {
      const open = daemon.status(holdsCapacity).length;
      if (open >= config.limits.maxConcurrentJobs) return decline("no free capacity");
      await daemon.accept({
        request,
        price: match.price,
        deadline: match.bid.deadline,
        matchId: match.matchId,
        matchedAt: match.matchedAt,
        terms: { arbiters: [...terms.arbiters], maxChallengeWindowMs: terms.maxChallengeWindowMs, maxDeadlineMs: terms.maxDeadlineMs, lockWindowMs: terms.lockWindowMs },
        bidTerms: { challengeWindowMs: bidTerms.challengeWindowMs, ...(bidTerms.arbiter !== undefined ? { arbiter: bidTerms.arbiter } : {}) },
      });
    }
    const confirm = signProviderConfirm(proofKey.privateKey, { v: PROTOCOL_VERSION, type: "provider-confirm", matchId: match.matchId, jobHash: match.jobHash, providerId: proofKey.providerId, confirmedAt: Date.now() });
    await this.params.client.publishConfirm(match.jobHash, confirm);
    this.params.onDecision?.(match.jobHash, "confirmed");
    return "confirmed";
  }

  /** A service match: the host keeps it until its lease appears (at least the provider's prices a second) or the lock window passes. */
  private async acceptService(match: Match, decline: (reason: string) => "declined"): Promise<"confirmed" | "declined"> {
    const { spec } = match.bid;
    const { proofKey, config } = this.params;
    try {
      checkImageAllowed(spec.image, config.images);
      await this.params.services!.accept({
        request: serviceRequestFromSpec({ spec, jobHash: match.jobHash, limits: config.limits }),
        buyerKey: match.bid.buyer.key,
        lockWindowMs: config.terms.lockWindowMs,
        minRatePerSecond: jobPrice(config.prices, spec.resources, 1000),
      });
    } catch (error) {
      // Not taken (not allowed, a request the runner would refuse, the state folder unwritable): never confirmed.
      return decline(isNtxError(error) ? error.message : `cannot take this service: ${error instanceof Error ? error.message : String(error)}`);
    }
    const confirm = signProviderConfirm(proofKey.privateKey, { v: PROTOCOL_VERSION, type: "provider-confirm", matchId: match.matchId, jobHash: match.jobHash, providerId: proofKey.providerId, confirmedAt: Date.now() });
    await this.params.client.publishConfirm(match.jobHash, confirm);
    this.params.onDecision?.(match.jobHash, "confirmed");
    return "confirmed";
  }
}

const KIND_OF_STATE: Record<string, JobEventKind | null> = { preparing: "pulling", running: "running", collecting: "output", finished: null, failed: "failed" };
const KIND_OF_PHASE: Record<string, JobEventKind | null> = {
  [JobPhase.AwaitingEscrow]: "confirmed",
  [JobPhase.Locked]: "locked",
  [JobPhase.Running]: "started",
  [JobPhase.Ran]: "output",
  [JobPhase.Completed]: "completed",
  [JobPhase.Settled]: "completed",
  // Refusing an escrow gives the match up before running anything: the matcher frees its capacity.
  [JobPhase.Refused]: "released",
  [JobPhase.Released]: "released",
  [JobPhase.Failed]: "failed",
  // Service jobs (src/provider/service/lease-keeper.ts).
  [LeasePhase.Started]: "started",
  [LeasePhase.Notice]: "notice",
  [LeasePhase.Claimed]: "claimed",
  [LeasePhase.Stopped]: "stopped",
  [LeasePhase.Closed]: "completed",
  [LeasePhase.Health]: "running",
};

/**
 * Job events as the market's signed JobEvent messages. `seq` starts from the clock (µs) so it keeps increasing
 * across restarts of the provider and readers can drop replays.
 */
export function jobEventEncoder(proofKey: ProofKey): (event: Exclude<RunEvent, { kind: "log" }> | ProviderJobEvent) => Uint8Array | null {
  let seq = Date.now() * 1000;
  const encoder = new TextEncoder();
  return (event) => {
    const kind = event.kind === "state" ? KIND_OF_STATE[event.state] : KIND_OF_PHASE[event.phase];
    if (!kind) return null;
    const message = event.kind === "state" ? event.detail : event.message;
    const signed = signJobEvent(proofKey.privateKey, {
      v: PROTOCOL_VERSION,
      type: "job-event",
      jobHash: event.jobHash,
      providerId: proofKey.providerId,
      seq: seq++,
      kind,
      at: event.at,
      ...(message ? { message: message.slice(0, 4096) } : {}),
      ...(event.kind === "job" && event.resultHash ? { resultHash: event.resultHash } : {}),
      ...(event.kind === "job" && typeof event.exitCode === "number" ? { exitCode: event.exitCode } : {}),
    });
    return encoder.encode(JSON.stringify(signed));
  };
}
