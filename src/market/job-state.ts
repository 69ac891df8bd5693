/**
 * A job's current state, from the two places the market writes it. The first match of a job is its claim: it
 * is stored only if the job has no match yet (JetStream's expected last subject sequence), so making a match
 * costs one write. Later transitions (confirmed, lapsed, expired) are job records in the `ntx-jobs` KV, written
 * by compare-and-set. A re-match after a lapse expects the previous match's sequence, so it too is stored once.
 *
 * Reading both: a stored match of a later attempt than the record is the current state (matched); otherwise
 * the record is (at the same attempt it is the later transition of that match).
 */
import { z } from "zod/v4";
import { jsonOf } from "./decode.js";
import { JobRecord } from "./job-record.js";
import { ReservedResources } from "./schemas.js";
import type { MarketTransport, StoredMatch } from "./transport.js";

/** The fields of a stored match the job state needs; the rest of the document is not read here. */
const MatchFields = z.object({
  matchId: z.string(),
  jobHash: z.string(),
  attempt: z.number().int().positive(),
  offer: z.object({ providerId: z.string() }),
  price: z.string(),
  reserved: ReservedResources,
  confirmBy: z.number().int(),
  matchedAt: z.number().int(),
});

export interface JobState {
  /** The current state; a record synthesized from the match when the match is newer. */
  record: JobRecord;
  /** Revision of the KV record, when there is one: the next record write's compare-and-set. */
  revision: number | undefined;
  /** Sequence of the job's last stored match (0: none): the next match's expectation. */
  matchSeq: number;
  /** The job's last stored match as read, for callers that show or check the whole document. */
  match: StoredMatch | null;
}

export function currentJobState(kv: { record: JobRecord; revision: number } | null, match: StoredMatch | null): JobState | null | "corrupt" {
  let fields: z.infer<typeof MatchFields> | undefined;
  if (match) {
    const parsed = MatchFields.safeParse(jsonOf(match.data));
    if (!parsed.success) return "corrupt";
    fields = parsed.data;
  }
  const matchSeq = match?.seq ?? 0;
  if (fields && (!kv || fields.attempt > kv.record.attempt)) {
    const record: JobRecord = {
      v: 1,
      jobHash: fields.jobHash,
      bidSeq: match?.bidSeq ?? kv?.record.bidSeq ?? 0,
      state: "matched",
      attempt: fields.attempt,
      matchId: fields.matchId,
      providerId: fields.offer.providerId,
      price: fields.price,
      reserved: fields.reserved,
      confirmBy: fields.confirmBy,
      excluded: kv?.record.excluded ?? [],
      updatedAt: fields.matchedAt,
    };
    return { record, revision: kv?.revision, matchSeq, match };
  }
  return kv ? { record: kv.record, revision: kv.revision, matchSeq, match } : null;
}

/** Reads the job record and the last match of a job; null when the market has neither. */
export async function readJobState(transport: Pick<MarketTransport, "jobs" | "lastMatch">, jobHash: string): Promise<JobState | null | "corrupt"> {
  const [entry, match] = await Promise.all([transport.jobs.get(jobHash), transport.lastMatch(jobHash)]);
  let kv: { record: JobRecord; revision: number } | null = null;
  if (entry) {
    const parsed = JobRecord.safeParse(jsonOf(entry.value));
    if (!parsed.success) return "corrupt";
    kv = { record: parsed.data, revision: entry.revision };
  }
  return currentJobState(kv, match);
}
