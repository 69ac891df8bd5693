import type { Chain } from "../../offchain/chain/index.js";
import type { EscrowDeployment, EscrowScript } from "../../offchain/index.js";
import type { MarketTransport } from "../market/index.js";
import type { MarketClient, NatsConnection } from "../nats/index.js";
import type { JobFeed } from "./job-feed.js";
import type { LockGuard } from "./lock-guard.js";
import type { EscrowReads } from "../../offchain/escrow-reads.js";
import type { SseSlots } from "./guards/sse-slots.js";
import type { ApiLimits } from "./limits.js";
import type { OfferBook } from "./offer-book.js";
import type { TxBuildPool } from "../runtime/tx-pool/pool.js";

/** What every route needs, built once by the server. */
export interface ApiContext {
  chain: Chain;
  nc: NatsConnection;
  transport: MarketTransport;
  client: MarketClient;
  feed: JobFeed;
  book: OfferBook;
  locks: LockGuard;
  script: EscrowScript;
  /** The escrow address as last read (shared by all routes for a moment; see offchain/escrow-reads.ts). */
  escrows: EscrowReads;
  /** Transaction builds, on worker threads. */
  builds: TxBuildPool;
  /** Open event streams, per client and in total. */
  sse: SseSlots;
  limits: ApiLimits;
  /** Loads (once) the reference-script deployment claims need; ESCROW_NOT_DEPLOYED when none is configured. */
  deployment(): Promise<EscrowDeployment>;
  challengeWindowMs: number;
  mainnet: boolean;
  now: () => number;
  sseHeartbeatMs: number;
}
