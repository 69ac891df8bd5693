import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jobPhase, JobPhase, type PhaseInputs } from "../../src/api/routes/job-phase.js";

const now = 1_800_000_000_000;
const base: PhaseInputs = { now, record: null, bid: { expiresAt: now + 60_000, deadline: now + 3_600_000 }, events: [], escrow: null };
const locked = { state: "locked" as const, funded: true, deadline: now + 3_600_000, arbiter: null };

describe("a buyer's job phase", () => {
  it("is lockable only once the provider confirmed, and never with an escrow on the chain", () => {
    expect(jobPhase({ ...base, record: { state: "matched", confirmBy: now + 5_000 } })).toMatchObject({ phase: "matched", actions: [], at: now + 5_000 });
    expect(jobPhase({ ...base, record: { state: "lapsed" } })).toMatchObject({ phase: "lapsed", actions: [] });
    expect(jobPhase({ ...base, record: { state: "confirmed", confirmedAt: now - 1_000 }, lockBy: now + 9_000 })).toMatchObject({ phase: "confirmed", actions: ["lock"], at: now + 9_000 });
    expect(jobPhase({ ...base, record: { state: "confirmed" }, lockBy: now - 1 })).toMatchObject({ phase: "released", actions: [] });
    expect(jobPhase({ ...base, record: { state: "confirmed" }, escrow: locked })).toMatchObject({ phase: "locked", actions: [] });
  });

  it("follows the provider's events while locked, and offers the refund only after the deadline", () => {
    expect(jobPhase({ ...base, escrow: locked, events: ["locked", "pulling"] }).phase).toBe("starting");
    expect(jobPhase({ ...base, escrow: locked, events: ["locked", "pulling", "started"] }).phase).toBe("running");
    expect(jobPhase({ ...base, escrow: locked, events: ["failed"] }).phase).toBe("failed");
    expect(jobPhase({ ...base, escrow: locked, events: ["released"] })).toMatchObject({ phase: "released", actions: [] });
    expect(jobPhase({ ...base, now: locked.deadline + 5_000, escrow: locked })).toMatchObject({ phase: "refundable", actions: ["refund"] });
  });

  it("offers accept (and dispute only with an arbiter) while the challenge window is open", () => {
    const completed = { state: "completed" as const, funded: true, deadline: now + 3_600_000, claimableAt: now + 60_000 };
    expect(jobPhase({ ...base, escrow: { ...completed, arbiter: null } })).toMatchObject({ phase: "completed", actions: ["accept"], at: now + 60_000 });
    expect(jobPhase({ ...base, escrow: { ...completed, arbiter: "ab".repeat(28) } })).toMatchObject({ phase: "completed", actions: ["accept", "dispute"] });
    expect(jobPhase({ ...base, now: now + 60_000, escrow: { ...completed, arbiter: "ab".repeat(28) } })).toMatchObject({ phase: "claimable", actions: ["accept"] });
  });

  it("tells settled jobs apart: paid after a completion, refunded after a lock, never lockable again", () => {
    expect(jobPhase({ ...base, record: { state: "confirmed" }, events: ["locked", "started", "completed"] }).phase).toBe("paid");
    expect(jobPhase({ ...base, record: { state: "confirmed" }, lockedBefore: true }).phase).toBe("refunded");
  });

  it("always answers a known phase with consistent actions, whatever the inputs", () => {
    const kinds = fc.constantFrom("confirmed", "locked", "released", "pulling", "started", "running", "output", "completed", "failed", "cancelled", "bogus");
    fc.assert(
      fc.property(
        fc.option(fc.record({ state: fc.constantFrom("matched", "lapsed", "confirmed", "expired") as fc.Arbitrary<"matched" | "lapsed" | "confirmed" | "expired">, confirmBy: fc.option(fc.integer(), { nil: undefined }) }), { nil: null }),
        fc.array(kinds, { maxLength: 8 }),
        fc.option(fc.record({ state: fc.constantFrom("locked", "completed", "disputed") as fc.Arbitrary<"locked" | "completed" | "disputed">, funded: fc.boolean(), deadline: fc.integer({ min: now - 100_000, max: now + 100_000 }), claimableAt: fc.integer({ min: now - 100_000, max: now + 100_000 }), arbiter: fc.option(fc.constant("cd".repeat(28)), { nil: null }) }), { nil: null }),
        fc.boolean(),
        (record, events, escrow, lockedBefore) => {
          const view = jobPhase({ ...base, record, events, escrow, lockedBefore });
          expect(JobPhase.safeParse(view.phase).success).toBe(true);
          if (view.actions.includes("lock")) expect(escrow?.funded ?? false).toBe(false);
          if (view.actions.includes("refund")) expect(escrow?.state).toBe("locked");
          if (view.actions.includes("dispute")) expect(escrow?.arbiter).not.toBeNull();
        },
      ),
      { seed: 15, numRuns: 1_000 },
    );
  });
});
