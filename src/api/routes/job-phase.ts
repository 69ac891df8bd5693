/**
 * Where a buyer's job stands, in one word, with what happens next and when: read from the market's record and
 * the provider's events, and from the chain's escrow, which outranks both (money is where the chain says).
 * Plain data in, plain data out, so the page, the CLI and the tests read the same answer.
 */
import { z } from "zod/v4";

export const JobPhase = z.enum([
  "waiting", // bid posted, no provider matched yet
  "expired", // the bid expired unmatched (or unlocked)
  "matched", // a provider was picked; its confirmation is awaited: not lockable yet
  "lapsed", // the provider did not confirm in time; the market matches the job again
  "confirmed", // the provider confirmed: the buyer may lock now
  "released", // the provider gave the match up before running
  "locked", // NTX in escrow; the provider has not started the container yet
  "starting", // the provider is pulling or starting the container
  "running", // the container runs
  "failed", // the provider reported a failure; the escrow is refundable at its deadline
  "completed", // completion proven on-chain; challenge window open
  "claimable", // challenge window over; the provider can claim (the buyer can still accept)
  "disputed", // the buyer disputed; the arbiter decides
  "refundable", // deadline passed without completion: the buyer can take the NTX back
  "paid", // escrow settled to the provider
  "refunded", // escrow returned to the buyer
]);
export type JobPhase = z.infer<typeof JobPhase>;

export const JobAction = z.enum(["lock", "accept", "dispute", "refund"]);
export type JobAction = z.infer<typeof JobAction>;

export interface PhaseInputs {
  now: number;
  record: { state: "matched" | "lapsed" | "confirmed" | "expired"; confirmBy?: number | undefined; confirmedAt?: number | undefined } | null;
  bid: { expiresAt: number; deadline: number } | null;
  /** Kinds of the provider's job events, oldest first. */
  events: string[];
  /** The job's escrows on the chain now (normally none or one). */
  escrow: { state: "locked" | "completed" | "disputed"; funded: boolean; deadline: number; claimableAt?: number | undefined; arbiter: string | null } | null;
  /** The chain confirmed a lock of this job earlier (its escrow may be spent since). */
  lockedBefore?: boolean;
  /** A confirmed match not locked by then is released (confirmation time + the offer's lock window). */
  lockBy?: number | null;
}

export interface PhaseView {
  phase: JobPhase;
  /** What happens next, in words. */
  next: string;
  /** When that happens or must happen by (POSIX ms), if known. */
  at: number | null;
  /** What `at` is, in words ("deadline", "lock by"…). */
  atLabel: string;
  actions: JobAction[];
}

/** The chain sees time in whole slots: offer the refund once the deadline is surely past on-chain too. */
const REFUND_MARGIN_MS = 2_000;

const RUNNING = new Set(["started", "running", "output"]);

export function jobPhase(input: PhaseInputs): PhaseView {
  const { now, record, bid, events, escrow } = input;
  const has = (kind: string) => events.includes(kind);
  const last = (kinds: Set<string>) => [...events].reverse().find((k) => kinds.has(k));
  if (escrow && escrow.funded) {
    if (escrow.state === "completed") {
      const end = escrow.claimableAt ?? now;
      const actions: JobAction[] = escrow.arbiter && now < end ? ["accept", "dispute"] : ["accept"];
      if (now < end) return { phase: "completed", next: `Accept to pay now${escrow.arbiter ? ", or dispute" : ""} before the challenge window ends; after that the provider is paid`, at: end, atLabel: "challenge window ends", actions };
      return { phase: "claimable", next: "The challenge window is over: the provider can claim its payment now (you can still accept)", at: end, atLabel: "challenge window ended", actions: ["accept"] };
    }
    if (escrow.state === "disputed") return { phase: "disputed", next: "The arbiter named in the escrow decides how the NTX is split", at: null, atLabel: "", actions: [] };
    if (now >= escrow.deadline + REFUND_MARGIN_MS) return { phase: "refundable", next: "The deadline passed without a proven completion: take your NTX back", at: escrow.deadline, atLabel: "deadline was", actions: ["refund"] };
    const lastKind = last(new Set(["pulling", "started", "running", "output", "failed", "released", "completed"]));
    if (lastKind === "failed") return { phase: "failed", next: "The job failed; your NTX can be refunded once the deadline passes", at: escrow.deadline, atLabel: "refund opens", actions: [] };
    if (lastKind === "released") return { phase: "released", next: "The provider gave up this job; your NTX can be refunded once the deadline passes", at: escrow.deadline, atLabel: "refund opens", actions: [] };
    if (lastKind === "completed") return { phase: "running", next: "The provider finished and is proving completion on the chain", at: escrow.deadline, atLabel: "deadline", actions: [] };
    if (lastKind && RUNNING.has(lastKind)) return { phase: "running", next: "The container runs; the provider must prove completion before the deadline", at: escrow.deadline, atLabel: "deadline", actions: [] };
    if (lastKind === "pulling") return { phase: "starting", next: "The provider is starting the container", at: escrow.deadline, atLabel: "deadline", actions: [] };
    return { phase: "locked", next: "NTX locked; the provider starts the container once it sees the escrow", at: escrow.deadline, atLabel: "deadline", actions: [] };
  }
  // No escrow on the chain now: either never locked, or settled (spent).
  const lockedOnce = input.lockedBefore === true || has("locked") || events.some((k) => RUNNING.has(k) || k === "pulling");
  if (has("completed")) return { phase: "paid", next: "Settled: the provider was paid", at: null, atLabel: "", actions: [] };
  if (lockedOnce) return { phase: "refunded", next: "Settled: the escrow was returned to you", at: null, atLabel: "", actions: [] };
  if (has("released")) return { phase: "released", next: "The provider gave up this match before the lock; post the bid again", at: null, atLabel: "", actions: [] };
  if (!record) {
    if (bid && now >= bid.expiresAt) return { phase: "expired", next: "No provider took this job before the bid expired", at: bid.expiresAt, atLabel: "bid expired", actions: [] };
    return { phase: "waiting", next: "Waiting for a provider whose price fits your max price", at: bid?.expiresAt ?? null, atLabel: "bid expires", actions: [] };
  }
  switch (record.state) {
    case "matched":
      return { phase: "matched", next: "Waiting for the provider to confirm it will run the job", at: record.confirmBy ?? null, atLabel: "confirm by", actions: [] };
    case "lapsed":
      if (bid && now >= bid.expiresAt) return { phase: "expired", next: "No provider confirmed this job before the bid expired", at: bid.expiresAt, atLabel: "bid expired", actions: [] };
      return { phase: "lapsed", next: "The provider did not confirm in time; the market is looking for another", at: bid?.expiresAt ?? null, atLabel: "bid expires", actions: [] };
    case "confirmed":
      if (input.lockBy && now >= input.lockBy) return { phase: "released", next: "The lock window passed without a lock: the provider is free again; post the bid again", at: input.lockBy, atLabel: "lock window ended", actions: [] };
      return { phase: "confirmed", next: "The provider confirmed: lock the NTX so it starts", at: input.lockBy ?? bid?.expiresAt ?? null, atLabel: input.lockBy ? "lock by" : "bid expires", actions: ["lock"] };
    case "expired":
      return { phase: "expired", next: "No provider took this job before the bid expired", at: bid?.expiresAt ?? null, atLabel: "bid expired", actions: [] };
  }
}
