/**
 * Every bound the API puts on what a client can make it do, in one place. Routes are grouped into classes
 * ("POST /tx/claim", "GET /jobs/:p/events": see routeClass); a class not named in a table gets its `default`, so a
 * route added later is limited without being listed here.
 */
import type { Request } from "express";

export interface ApiLimits {
  /** Window of the request counters, ms. */
  windowMs: number;
  /** Requests per client per window, all routes together. */
  clientRequests: number;
  /** Requests per client and route class per window. */
  routeRequests: Record<string, number> & { default: number };
  /** Largest JSON body per route class, bytes. */
  bodyBytes: Record<string, number> & { default: number };
  /** Open Server-Sent Event streams. */
  sse: { perClient: number; total: number };
  /** Stored messages a new event stream replays before going live. */
  sseReplay: { matches: number; confirms: number; events: number; logs: number };
  /** Transaction builds on worker threads: threads, builds waiting for one, and how long one may take. */
  builds: { workers: number; queue: number; timeoutMs: number };
  /** How long a read of the escrow address is shared between requests, ms. */
  escrowCacheMs: number;
  /** Submitted locks the guard holds at once (each for `holdMs`); a full guard refuses new locks, never forgets. */
  lockGuard: { maxHeld: number; holdMs: number };
}

export const DEFAULT_LIMITS: ApiLimits = {
  windowMs: 60_000,
  clientRequests: 600,
  routeRequests: {
    default: 300,
    "POST /tx/lock": 30,
    "POST /tx/claim": 30,
    "POST /tx/submit": 30,
    "POST /bids": 60,
    "GET /jobs/:p/events": 60,
    "GET /balance/:p": 60,
    "GET /payouts/:p": 60,
  },
  bodyBytes: {
    default: 64 * 1024,
    // A wallet's getUtxos() list (≤ 500 entries, usually a few hundred bytes each).
    "POST /tx/lock": 1024 * 1024,
    "POST /tx/claim": 1024 * 1024,
    // Two CBOR hex strings of ≤ 64 KiB each.
    "POST /tx/submit": 160 * 1024,
  },
  sse: { perClient: 8, total: 1_000 },
  sseReplay: { matches: 20, confirms: 20, events: 200, logs: 500 },
  builds: { workers: 1, queue: 16, timeoutMs: 120_000 },
  escrowCacheMs: 2_000,
  lockGuard: { maxHeld: 10_000, holdMs: 10 * 60_000 },
};

export type ApiLimitsInput = Partial<Omit<ApiLimits, "routeRequests" | "bodyBytes" | "sse" | "sseReplay" | "builds" | "lockGuard">> & {
  routeRequests?: Record<string, number>;
  bodyBytes?: Record<string, number>;
  sse?: Partial<ApiLimits["sse"]>;
  sseReplay?: Partial<ApiLimits["sseReplay"]>;
  builds?: Partial<ApiLimits["builds"]>;
  lockGuard?: Partial<ApiLimits["lockGuard"]>;
};

export function resolveLimits(input: ApiLimitsInput = {}): ApiLimits {
  const d = DEFAULT_LIMITS;
  return {
    windowMs: input.windowMs ?? d.windowMs,
    clientRequests: input.clientRequests ?? d.clientRequests,
    escrowCacheMs: input.escrowCacheMs ?? d.escrowCacheMs,
    routeRequests: { ...d.routeRequests, ...input.routeRequests },
    bodyBytes: { ...d.bodyBytes, ...input.bodyBytes },
    sse: { ...d.sse, ...input.sse },
    sseReplay: { ...d.sseReplay, ...input.sseReplay },
    builds: { ...d.builds, ...input.builds },
    lockGuard: { ...d.lockGuard, ...input.lockGuard },
  };
}

/** A path segment that names a thing (hash, address, out-ref) rather than a route: counted as one class. */
const STATIC_SEGMENT = /^[a-z][a-z-]{0,23}(\.json)?$/;

/**
 * The route class of a request under /api: method and up to three path segments, each segment that is not a
 * plain lowercase word replaced by ":p". Bounded (three segments) so a client cannot mint counters.
 */
export function routeClass(req: Pick<Request, "method" | "path">): string {
  const segments = req.path.split("/").filter(Boolean).slice(0, 3).map((s) => (STATIC_SEGMENT.test(s) ? s : ":p"));
  return `${req.method === "HEAD" ? "GET" : req.method} /${segments.join("/")}`;
}

export function limitFor(table: Record<string, number> & { default: number }, cls: string): number {
  return table[cls] ?? table.default;
}
