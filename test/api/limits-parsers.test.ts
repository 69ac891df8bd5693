import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isLoopbackHost } from "../../offchain/devnet/exposure.js";
import { DEFAULT_LIMITS, limitFor, routeClass } from "../../src/api/limits.js";

// Properties of what the limits read from a request (fixed seed, bounded runs).
const runs = { seed: 11, numRuns: 2_000 };

describe("routeClass", () => {
  it("never throws, keeps at most three segments, and names a thing (hash, address, out-ref) as :p", () => {
    const segment = fc.oneof(fc.constantFrom("jobs", "tx", "lock", "events", "balance", "openapi.json"), fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-f]{64}$/));
    fc.assert(
      fc.property(fc.constantFrom("GET", "POST", "HEAD", "PUT"), fc.array(segment, { maxLength: 8 }), (method, segments) => {
        const cls = routeClass({ method, path: `/${segments.join("/")}` });
        const [verb, path] = cls.split(" ", 2);
        expect(verb).toBe(method === "HEAD" ? "GET" : method);
        expect(path!.split("/").filter(Boolean).length).toBeLessThanOrEqual(3);
        expect(cls).not.toMatch(/[0-9a-f]{64}/);
      }),
      runs,
    );
  });

  it("gives every client-chosen path one of few classes per shape: a limit always applies", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^addr_test1[02-9ac-hj-np-z]{50,100}$/), (hash, address) => {
        expect(routeClass({ method: "GET", path: `/jobs/${hash}/events` })).toBe("GET /jobs/:p/events");
        expect(routeClass({ method: "GET", path: `/balance/${address}` })).toBe("GET /balance/:p");
        expect(limitFor(DEFAULT_LIMITS.routeRequests, routeClass({ method: "POST", path: `/tx/${hash}` }))).toBe(DEFAULT_LIMITS.routeRequests.default);
      }),
      runs,
    );
  });
});

describe("isLoopbackHost", () => {
  it("never throws, and is true only for 127/8, ::1, localhost (and their mapped forms)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.ipV4(), fc.ipV6(), fc.domain()), (host) => {
        const loopback = isLoopbackHost(host);
        if (loopback) expect(host.replace(/^\[|\]$/g, "").toLowerCase()).toMatch(/^(127\.|::1$|localhost$|::ffff:127\.)/);
      }),
      runs,
    );
    expect([isLoopbackHost("127.0.0.1"), isLoopbackHost("127.9.9.9"), isLoopbackHost("[::1]"), isLoopbackHost("::ffff:127.0.0.2"), isLoopbackHost("LOCALHOST")]).toEqual([true, true, true, true, true]);
    expect([isLoopbackHost("0.0.0.0"), isLoopbackHost("::"), isLoopbackHost("128.0.0.1"), isLoopbackHost("localhost.evil.com"), isLoopbackHost("127.0.0.1.nip.io")]).toEqual([false, false, false, false, false]);
  });
});
