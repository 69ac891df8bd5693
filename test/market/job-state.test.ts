import { describe, expect, it } from "vitest";
import type { JobRecord } from "../../src/market/job-record.js";
import { currentJobState } from "../../src/market/job-state.js";
import type { StoredMatch } from "../../src/market/transport.js";

const jobHash = "ef".repeat(32);
const te = new TextEncoder();

function stored(attempt: number, providerId: string, seq: number, bidSeq: number | null = 5): StoredMatch {
  const doc = { v: 1, type: "match", matchId: `${jobHash}-${attempt}`, jobHash, attempt, bid: {}, offer: { providerId }, price: "100", reserved: { cpuCores: 1, memoryMiB: 256, diskGiB: 1, gpuIndices: [] }, matcherId: "m", matchedAt: 1_000 + attempt, confirmBy: 9_000 + attempt };
  return { data: te.encode(JSON.stringify(doc)), seq, bidSeq: bidSeq ?? undefined };
}

function record(state: JobRecord["state"], attempt: number, extra: Partial<JobRecord> = {}): { record: JobRecord; revision: number } {
  return { record: { v: 1, jobHash, bidSeq: 5, state, attempt, excluded: [], updatedAt: 1, ...extra }, revision: 42 };
}

describe("a job's state from its KV record and its last stored match", () => {
  it("is nothing before either exists", () => {
    expect(currentJobState(null, null)).toBeNull();
  });

  it("is matched from the match alone, with the bid it was made for", () => {
    const state = currentJobState(null, stored(1, "p1", 17));
    expect(state).toMatchObject({ revision: undefined, matchSeq: 17, record: { state: "matched", attempt: 1, providerId: "p1", matchId: `${jobHash}-1`, bidSeq: 5, confirmBy: 9_001, price: "100" } });
  });

  it("is the re-match after a recorded lapse, keeping the providers the lapse excluded", () => {
    const state = currentJobState(record("lapsed", 1, { providerId: "p1", excluded: ["p1"] }), stored(2, "p2", 30));
    expect(state).toMatchObject({ revision: 42, matchSeq: 30, record: { state: "matched", attempt: 2, providerId: "p2", excluded: ["p1"] } });
  });

  it("is the record when it is the later transition of the same attempt (confirmed) or no match follows it (lapsed)", () => {
    expect(currentJobState(record("confirmed", 1, { providerId: "p1" }), stored(1, "p1", 17))).toMatchObject({ revision: 42, matchSeq: 17, record: { state: "confirmed", attempt: 1 } });
    expect(currentJobState(record("lapsed", 2), stored(2, "p2", 30))).toMatchObject({ matchSeq: 30, record: { state: "lapsed", attempt: 2 } });
    expect(currentJobState(record("expired", 0), null)).toMatchObject({ matchSeq: 0, record: { state: "expired" } });
  });

  it("takes the bid sequence from the record when the match does not carry it", () => {
    expect(currentJobState(record("lapsed", 1, { bidSeq: 8 }), stored(2, "p2", 30, null))).toMatchObject({ record: { bidSeq: 8 } });
  });

  it("is corrupt when the stored match does not parse, never silently nothing", () => {
    expect(currentJobState(null, { data: te.encode("{not json"), seq: 3, bidSeq: 1 })).toBe("corrupt");
    expect(currentJobState(record("lapsed", 1), { data: te.encode('{"attempt":"two"}'), seq: 3, bidSeq: 1 })).toBe("corrupt");
  });
});
