import canonicalizeModule from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blake2b256Hex } from "../../src/crypto/sodium.js";
import { jobHash } from "../../src/market/job-hash.js";
import { JobSpec } from "../../src/market/schemas.js";
import { readMetric } from "../../src/provider/service/prometheus.js";

/**
 * The service job kind in the job spec: batch specs hash exactly as before (computed here from the raw object with
 * the RFC 8785 library and blake2b, not through the schema), service specs parse only whole, and no input makes
 * the schema or the metric reader throw.
 */

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;
const SEED = 1_212;

const batch = {
  image: "ntx-test/busybox:1",
  command: ["sh", "-c", "echo hi"],
  env: { A: "1" },
  resources: { cpuCores: 1, memoryMiB: 256, diskGiB: 1 },
  maxDurationMs: 60_000,
  outputs: ["/out"],
  network: "none",
};

const service = {
  ...batch,
  network: "egress",
  kind: "service",
  service: {
    restart: { policy: "always", maxRestarts: 0 },
    volume: { name: "db", mountPath: "/data", sizeMiB: 1024 },
    ports: [{ container: 3001, protocol: "tcp" }],
    health: { kind: "prometheus", port: 12798, path: "/metrics", metric: "cardano_node_metrics_slotNum_int" },
    noticeMs: 86_400_000,
  },
};

describe("job spec: kind service", () => {
  it("hashes a batch spec from its own canonical JSON, unchanged by the new fields", () => {
    expect(jobHash(batch)).toBe(blake2b256Hex(canonicalize(batch)));
    expect(jobHash(service)).toBe(blake2b256Hex(canonicalize(service)));
    expect(jobHash(service)).not.toBe(jobHash({ ...service, service: { ...service.service, noticeMs: 1 } }));
  });

  it("takes a service only whole: kind and section together, egress, unprivileged unique ports, clean paths", () => {
    expect(JobSpec.safeParse(service).success).toBe(true);
    const bad: unknown[] = [
      { ...batch, kind: "service" },
      { ...batch, service: service.service },
      { ...service, network: "none" },
      { ...service, kind: "batch" },
      { ...service, service: { ...service.service, ports: [{ container: 22, protocol: "tcp" }] } },
      { ...service, service: { ...service.service, ports: [{ container: 3001, protocol: "tcp" }, { container: 3001, protocol: "tcp" }] } },
      { ...service, service: { ...service.service, volume: { name: "db", mountPath: "/data/../etc", sizeMiB: 1024 } } },
      { ...service, service: { ...service.service, volume: { name: "db", mountPath: "/data", sizeMiB: 1 } } },
      { ...service, service: { ...service.service, health: { kind: "command", command: [] } } },
      { ...service, service: { ...service.service, restart: { policy: "sometimes", maxRestarts: 0 } } },
      { ...service, service: { ...service.service, extra: 1 } },
      { ...service, service: { ...service.service, volume: { name: "db", mountPath: "/data", sizeMiB: 4096 } } },
      { ...service, service: { ...service.service, files: { dir: "/data/config", entries: {} } } },
      { ...service, service: { ...service.service, secrets: { dir: "/data", names: ["kes.skey"] } } },
      { ...service, service: { ...service.service, files: { dir: "/config", entries: { "../x": "" } } } },
    ];
    for (const spec of bad) expect(JobSpec.safeParse(spec).success, JSON.stringify(spec)).toBe(false);
  });

  it("never throws on arbitrary input, nor on mutations of a valid service", () => {
    fc.assert(fc.property(fc.anything(), (v) => { JobSpec.safeParse(v); }), { seed: SEED, numRuns: 300 });
    fc.assert(
      fc.property(fc.constantFrom("restart", "volume", "ports", "health", "noticeMs"), fc.anything(), (key, value) => {
        const parsed = JobSpec.safeParse({ ...service, service: { ...service.service, [key]: value } });
        if (parsed.success) expect(parsed.data.service).toBeDefined();
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("Prometheus metric reader", () => {
  it("reads the first sample, with or without labels, and not a longer name", () => {
    const body = "# HELP x\ncardano_node_metrics_slotNum_int_total 9\ncardano_node_metrics_slotNum_int{a=\"b\"} 42 1700000000\n";
    expect(readMetric(body, "cardano_node_metrics_slotNum_int")).toBe(42);
    expect(readMetric("m 1e3\n", "m")).toBe(1000);
    expect(readMetric("m NaN\n", "m")).toBeNaN();
    expect(readMetric("m abc\n", "m")).toBeUndefined();
    expect(readMetric("m{a=\"b\" 1\n", "m")).toBeUndefined();
  });

  it("never throws on arbitrary text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 500 }), fc.string({ maxLength: 20 }), (body, name) => { readMetric(body, name); }), { seed: SEED, numRuns: 500 });
  });
});
