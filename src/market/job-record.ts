import { z } from "zod/v4";
import { ReservedResources } from "./schemas.js";

/**
 * The market's record of a job, keyed by jobHash: what the market decided. A job's first match is stored in the
 * matches stream only (that is the de-duplication of bids); the `ntx-jobs` KV bucket gets a record when the
 * match is confirmed, lapses or the bid expires, and changes it only by compare-and-set. job-state.ts reads
 * the two together. What the provider observes while running the job goes to job events, not here.
 */
export const JobRecord = z.object({
  v: z.literal(1),
  jobHash: z.string(),
  /** Stream sequence of the bid this record belongs to: another message with the same jobHash is a replay. */
  bidSeq: z.number().int(),
  state: z.enum(["matched", "lapsed", "confirmed", "expired"]),
  attempt: z.number().int().nonnegative(),
  matchId: z.string().optional(),
  providerId: z.string().optional(),
  price: z.string().optional(),
  reserved: ReservedResources.optional(),
  confirmBy: z.number().int().optional(),
  confirmedAt: z.number().int().optional(),
  /** Providers that let a match lapse: not offered this job again. */
  excluded: z.array(z.string()),
  updatedAt: z.number().int(),
});
export type JobRecord = z.infer<typeof JobRecord>;

export const JobRecordState = { Matched: "matched", Lapsed: "lapsed", Confirmed: "confirmed", Expired: "expired" } as const;
