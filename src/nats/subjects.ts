/**
 * Every NATS subject of ntx-market, one named function each (the design's section 5). Tokens that come from
 * messages (regions, ids, hashes) are checked so a crafted value cannot widen a subject with `.`, `*` or `>`.
 */
import { NtxError } from "../../offchain/errors.js";

export const SUBJECT_ROOT = "ntx";

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new NtxError("NATS_BAD_SUBJECT", `${kind} "${value}" is not a valid subject token`);
  return value;
}

export const offerSubject = (region: string, providerId: string) => `${SUBJECT_ROOT}.offers.${token("region", region)}.${token("providerId", providerId)}`;
export const bidSubject = (jobHash: string) => `${SUBJECT_ROOT}.bids.${token("jobHash", jobHash)}`;
export const matchSubject = (jobHash: string) => `${SUBJECT_ROOT}.matches.${token("jobHash", jobHash)}`;
/** A provider's confirmation of a match: under matches so it is kept with them, but a different subject so a provider may confirm and never match. */
export const confirmSubject = (jobHash: string) => `${SUBJECT_ROOT}.matches.${token("jobHash", jobHash)}.confirm`;
export const jobEventsSubject = (jobHash: string) => `${SUBJECT_ROOT}.jobs.${token("jobHash", jobHash)}.events`;
export const jobLogsSubject = (jobHash: string) => `${SUBJECT_ROOT}.jobs.${token("jobHash", jobHash)}.logs`;
/** A bid the matcher set aside because nothing fits it yet (matchers only). */
export const parkedSubject = (jobHash: string) => `${SUBJECT_ROOT}.parked.${token("jobHash", jobHash)}`;
export const heartbeatSubject = (providerId: string) => `${SUBJECT_ROOT}.providers.${token("providerId", providerId)}.heartbeat`;
/** Sealed block-producer keys for one provider (request/reply: the provider answers whether they opened). */
export const providerSecretsSubject = (providerId: string) => `${SUBJECT_ROOT}.providers.${token("providerId", providerId)}.secrets`;

/** Wildcards, for streams, consumers and permissions. */
export const SubjectPatterns = {
  offers: `${SUBJECT_ROOT}.offers.>`,
  bids: `${SUBJECT_ROOT}.bids.*`,
  matches: `${SUBJECT_ROOT}.matches.*`,
  confirms: `${SUBJECT_ROOT}.matches.*.confirm`,
  matchesAll: `${SUBJECT_ROOT}.matches.>`,
  jobEvents: `${SUBJECT_ROOT}.jobs.*.events`,
  jobLogs: `${SUBJECT_ROOT}.jobs.*.logs`,
  heartbeats: `${SUBJECT_ROOT}.providers.*.heartbeat`,
  parked: `${SUBJECT_ROOT}.parked.*`,
} as const;

/** The last token of a subject (jobHash of bids/matches, providerId of offers). */
export function subjectToken(subject: string, index: number): string | undefined {
  return subject.split(".")[index];
}
