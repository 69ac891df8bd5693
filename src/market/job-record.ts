import { z } from "zod/v4";
import { ReservedResources } from "./schemas.js";

/**
 * The market's record of a job in the `ntx-jobs` KV bucket, keyed by jobHash: what the market decided. It is
 * created once per jobHash (that is the de-duplication of bids) and then only changed by compare-and-set.
 * What the provider observes while running the job goes to job events, not here.
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
