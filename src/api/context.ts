import type { Chain, LucidEvolution } from "../../offchain/chain/index.js";
import type { EscrowDeployment, EscrowScript } from "../../offchain/index.js";
import type { MarketTransport } from "../market/index.js";
import type { MarketClient, NatsConnection } from "../nats/index.js";
import type { JobFeed } from "./job-feed.js";
import type { LockGuard } from "./lock-guard.js";
import type { OfferBook } from "./offer-book.js";

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
  /** Loads (once) the reference-script deployment claims need; ESCROW_NOT_DEPLOYED when none is configured. */
  deployment(lucid: LucidEvolution): Promise<EscrowDeployment>;
  challengeWindowMs: number;
  mainnet: boolean;
  now: () => number;
  sseHeartbeatMs: number;
}
