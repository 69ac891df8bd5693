/**
 * What the fault and load suites hold the product to, read from outside: the NATS server's streams and KV
 * (raw nats.js) and the chain. Each check names the jobs that break it, so a report says what was lost.
 */
import { blake2b256Hex } from "../../src/crypto/sodium.js";
import type { BuyerJob, Buyers } from "./buyers.js";
import type { RawMessage, RawReader } from "./raw.js";
import type { FaultStack } from "./stack.js";

export interface Fault {
  name: string;
  /** When the fault began (kill, SIGSTOP) and when the part was back (started again, SIGCONT). */
  startedAt: number;
  endedAt: number;
  /** First match the server stored after the part was back, and the first job completed after it (ms after endedAt). */
  matchRecoveryMs?: number | null;
  completionRecoveryMs?: number | null;
  problems?: string[];
}

export interface Verdict {
  bids: number;
  /** Every category below must be empty. */
  bidsNotTaken: string[];
  bidsNotInStream: string[];
  bidsNeverConfirmed: string[];
  /** Bids no provider took before they expired: the KV says so, no money moved (a figure, not a loss). */
  bidsExpired: string[];
  /**
   * Bids whose every fitting provider lapsed them (a bid naming the region of a provider that was down when it was
   * matched): the matcher never offers a job again to a provider that let it lapse, so the bid waits, parked and
   * stored, for another provider or its expiry. No money moved; a figure, not a loss.
   */
  bidsWaiting: string[];
  /**
   * Paid jobs with no "completed" job event at all: the buyer has its result (chain and object store) but one
   * following only the job's events never sees the end. A loss since job events are at-least-once (finding 3).
   */
  completedEventMissing: string[];
  matchedTwice: string[];
  ranTwice: string[];
  confirmedInTimeButLapsed: string[];
  neitherPaidNorRefunded: string[];
  resultMissing: string[];
  paidTwice: string[];
  /** Figures. */
  locked: number;
  paid: number;
  refunded: number;
  neverLocked: number;
  providerNtxGained: bigint;
  expectedProviderNtx: bigint;
  matches: RawMessage[];
  events: RawMessage[];
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

export async function settledJobs(stack: FaultStack, buyers: Buyers): Promise<{ open: BuyerJob[] }> {
  const onChain = await buyers.escrows();
  return { open: [...buyers.jobs.values()].filter((j) => j.lock === "unknown" || (j.lock === "locked" && onChain.has(j.jobHash))) };
}

/** Whether the job record excludes every provider of the stack that serves one of the bid's regions (any, if none named). */
function everyFittingProviderExcluded(record: Record<string, unknown>, regions: unknown, stack: FaultStack): boolean {
  const excluded = new Set(Array.isArray(record.excluded) ? record.excluded.map(String) : []);
  const named = Array.isArray(regions) && regions.length > 0 ? new Set(regions.map(String)) : undefined;
  const fitting = stack.providers.filter((p) => !named || named.has(p.region));
  return fitting.length > 0 && fitting.every((p) => excluded.has(p.providerId));
}

/**
 * The escrows and the providers' NTX at one instant of the chain: balances read before and after the escrows, again
 * until both reads agree. Claims may still be landing while the verdict is taken (a run whose wait timed out); one
 * landing between the escrow read and a balance read showed as a payment twice over (an escrow counted as still
 * Completed, and its price already in the provider's balance).
 */
async function chainSnapshot(stack: FaultStack, buyers: Buyers) {
  const balances = async () => new Map(await Promise.all(stack.providers.map(async (p) => [p.providerId, await buyers.ntxBalance(p.payoutAddress)] as const)));
  const same = (a: Map<string, bigint>, b: Map<string, bigint>) => [...a].every(([k, x]) => b.get(k) === x);
  for (let attempt = 1; ; attempt++) {
    const before = await balances();
    const onChain = await buyers.escrows();
    // A spend shows on the devnet chain's address reads at once, its outputs only in the next block (1 s): read the
    // balances again after a block, so a claim in the mempool during the escrow read shows as a change.
    await new Promise((r) => setTimeout(r, 2_500));
    const providerNtx = await balances();
    if (same(before, providerNtx)) return { onChain, providerNtx };
    if (attempt === 10) throw new Error("verdict: the providers' balances kept changing across 10 reads of the escrows (claims still landing)");
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

export async function verdict(stack: FaultStack, raw: RawReader, buyers: Buyers, providerNtxBefore: Map<string, bigint>): Promise<Verdict> {
  const jobs = [...buyers.jobs.values()];
  const [bids, matchesAll, events] = await Promise.all([raw.stream("NTX_BIDS"), raw.stream("NTX_MATCHES"), raw.stream("NTX_JOB_EVENTS")]);
  const bidSubjects = new Set(bids.map((b) => b.subject));
  const regionsOf = new Map(bids.map((b) => [b.subject.slice("ntx.bids.".length), b.json?.regions] as const));
  const records = await raw.jobRecords(jobs.map((j) => j.jobHash));
  const matches = matchesAll.filter((m) => !m.subject.endsWith(".confirm"));
  const confirms = matchesAll.filter((m) => m.subject.endsWith(".confirm"));
  const byJob = <T extends RawMessage>(list: T[]) => {
    const map = new Map<string, T[]>();
    for (const m of list) {
      const h = str(m.json?.jobHash);
      if (h) map.set(h, [...(map.get(h) ?? []), m]);
    }
    return map;
  };
  const matchesOf = byJob(matches);
  const eventsOf = byJob(events);
  const confirmTime = new Map<string, number>();
  for (const c of confirms) {
    const id = str(c.json?.matchId);
    if (id && !confirmTime.has(id)) confirmTime.set(id, c.time);
  }

  const v: Verdict = {
    bids: jobs.length,
    bidsNotTaken: [],
    bidsNotInStream: [],
    bidsNeverConfirmed: [],
    bidsExpired: [],
    bidsWaiting: [],
    completedEventMissing: [],
    matchedTwice: [],
    ranTwice: [],
    confirmedInTimeButLapsed: [],
    neitherPaidNorRefunded: [],
    resultMissing: [],
    paidTwice: [],
    locked: 0,
    paid: 0,
    refunded: 0,
    neverLocked: 0,
    providerNtxGained: 0n,
    expectedProviderNtx: 0n,
    matches,
    events,
  };
  const { onChain, providerNtx } = await chainSnapshot(stack, buyers);
  for (const j of jobs) {
    const h = j.jobHash;
    if (!j.acceptedAt) v.bidsNotTaken.push(h);
    if (!bidSubjects.has(`ntx.bids.${h}`)) v.bidsNotInStream.push(h);
    const record = records.get(h);
    if (record?.state === "expired" && j.lock === "none") v.bidsExpired.push(h);
    else if (record?.state === "lapsed" && j.lock === "none" && everyFittingProviderExcluded(record, regionsOf.get(h), stack)) v.bidsWaiting.push(h);
    else if (record?.state !== "confirmed") v.bidsNeverConfirmed.push(`${h} (${String(record?.state ?? "no record")})`);
    // Matched twice: two matches of one attempt (two matchers selling one job), or work started by two providers.
    const ms = matchesOf.get(h) ?? [];
    const attempts = ms.map((m) => Number(m.json?.attempt));
    if (new Set(attempts).size !== attempts.length) v.matchedTwice.push(`${h}: attempts ${attempts.join(",")}`);
    const evs = eventsOf.get(h) ?? [];
    const workers = new Set(evs.filter((e) => ["locked", "started", "running", "output", "completed"].includes(String(e.json?.kind))).map((e) => str(e.json?.providerId)));
    if (workers.size > 1) v.matchedTwice.push(`${h}: worked on by ${workers.size} providers`);
    // Run twice to completion: more than one distinct result reported done ("output" with a result hash).
    const results = new Set(evs.filter((e) => e.json?.kind === "output" && typeof e.json?.resultHash === "string").map((e) => e.json!.resultHash));
    if (results.size > 1) v.ranTwice.push(`${h}: ${results.size} results`);
    // A match that was superseded by a later attempt lapsed: its confirmation must not have been stored in time.
    for (const m of ms) {
      const later = ms.some((n) => Number(n.json?.attempt) > Number(m.json?.attempt));
      const id = str(m.json?.matchId);
      const at = id ? confirmTime.get(id) : undefined;
      if (later && at !== undefined && at <= Number(m.json?.confirmBy)) {
        const provider = (x: unknown) => String((x as { providerId?: string } | undefined)?.providerId ?? "?").slice(0, 8);
        const story = [...ms.map((x) => ({ t: x.time, what: `match#${String(x.json?.attempt)}→${provider(x.json?.offer)}` })), ...evs.map((e) => ({ t: e.time, what: `${String(e.json?.kind)}@${provider(e.json)}` }))]
          .sort((a, b) => a.t - b.t)
          .map((x) => `${x.what}+${x.t - m.time}ms`)
          .join(" ");
        v.confirmedInTimeButLapsed.push(`${h}: match ${id} confirmed ${Number(m.json?.confirmBy) - at} ms before confirmBy, then lapsed (${story})`);
      }
    }
    if (j.lock === "locked") {
      v.locked++;
      const left = onChain.get(h) ?? [];
      if (left.length > 0) v.neitherPaidNorRefunded.push(`${h}: escrow still ${left.map((e) => e.datum.state.kind).join(",")}`);
      else if (j.refundTx) v.refunded++;
      else {
        v.paid++;
        v.expectedProviderNtx += j.price!;
        if (!evs.some((e) => e.json?.kind === "completed")) v.completedEventMissing.push(h);
        // The result hash the escrow was completed with (seen on-chain by the buyer), else the provider's event's.
        const resultHash = j.completedResultHash ?? str(evs.find((e) => typeof e.json?.resultHash === "string")?.json?.resultHash);
        const blob = resultHash ? await raw.result(h).catch(() => null) : null;
        if (!resultHash || !blob || blake2b256Hex(blob) !== resultHash) v.resultMissing.push(`${h}: ${resultHash ? "result not in the object store, or another hash" : "no result hash on-chain or in events"}`);
      }
    } else {
      v.neverLocked++;
      if (j.lock === "unknown") v.neitherPaidNorRefunded.push(`${h}: lock of unknown fate`);
    }
  }
  for (const p of stack.providers) v.providerNtxGained += providerNtx.get(p.providerId)! - (providerNtxBefore.get(p.providerId) ?? 0n);
  // Each escrow pays once: the providers together received exactly the price of every paid job.
  if (v.providerNtxGained !== v.expectedProviderNtx) v.paidTwice.push(`providers gained ${v.providerNtxGained} NTX for jobs worth ${v.expectedProviderNtx}`);
  return v;
}

export function recoveries(faults: Fault[], v: Verdict): void {
  for (const f of faults) {
    const m = v.matches.find((x) => x.time > f.endedAt);
    f.matchRecoveryMs = m ? m.time - f.endedAt : null;
    const c = v.events.find((x) => x.time > f.endedAt && x.json?.kind === "completed");
    f.completionRecoveryMs = c ? c.time - f.endedAt : null;
  }
}

/** The lists of a verdict that must be empty, by name. */
export function losses(v: Verdict): Record<string, string[]> {
  return {
    bidsNotTaken: v.bidsNotTaken,
    bidsNotInStream: v.bidsNotInStream,
    bidsNeverConfirmed: v.bidsNeverConfirmed,
    matchedTwice: v.matchedTwice,
    ranTwice: v.ranTwice,
    confirmedInTimeButLapsed: v.confirmedInTimeButLapsed,
    neitherPaidNorRefunded: v.neitherPaidNorRefunded,
    resultMissing: v.resultMissing,
    paidTwice: v.paidTwice,
    completedEventMissing: v.completedEventMissing,
  };
}
