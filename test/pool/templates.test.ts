import { describe, expect, it } from "vitest";
import { jobHash } from "../../src/market/job-hash.js";
import { JobSpec } from "../../src/market/schemas.js";
import { NETWORKS, POOL_NETWORKS } from "../../src/pool/networks.js";
import { NodeConfig, PoolRole, ProducerTopology, Topology } from "../../src/pool/node-config.js";
import { nodeImage, renderPoolSpec } from "../../src/pool/template.js";
import { serviceRequestFromSpec } from "../../src/provider/service/service-request.js";
import { serviceRequestSchema } from "../../src/provider/service/types.js";

/** Every network × role renders a valid service spec whose files parse as the node's config and topology. */

const relays = [{ address: "relay1.pool.example", port: 3001 }, { address: "203.0.113.7", port: 6000 }];
const producer = [{ address: "10.0.0.5", port: 3001 }];

describe("pool templates", () => {
  for (const network of POOL_NETWORKS) {
    for (const role of [PoolRole.Relay, PoolRole.BlockProducer]) {
      it(`${network} ${role}: a valid service spec, config and topology for the role`, () => {
        const spec = renderPoolSpec({ network, role, peers: role === PoolRole.Relay ? producer : relays, leaseMs: 30 * 86_400_000 });
        expect(JobSpec.safeParse(spec).success).toBe(true);
        expect(jobHash(spec)).toMatch(/^[0-9a-f]{64}$/);
        const service = spec.service!;
        expect(service.ports).toEqual([{ container: 3001, protocol: "tcp" }]);
        expect(service.health).toMatchObject({ kind: "prometheus", port: 12798, metric: "cardano_node_metrics_slotNum_int" });
        expect(service.volume!.sizeMiB).toBe(NETWORKS[network].resources.diskGiB * 1024);
        const config = NodeConfig.parse(JSON.parse(service.files!.entries["config.json"]!));
        const topology = Topology.parse(JSON.parse(service.files!.entries["topology.json"]!));
        expect(config.ShelleyGenesisFile.startsWith(NETWORKS[network].genesisDir)).toBe(true);
        expect(config.RequiresNetworkMagic).toBe(network === "mainnet" ? "RequiresNoMagic" : "RequiresMagic");
        // Nothing is ever advertised: not the producer by its relays, not the relays by the producer.
        expect(topology.localRoots.every((r) => !r.advertise)).toBe(true);
        if (role === PoolRole.BlockProducer) {
          expect(ProducerTopology.safeParse(topology).success).toBe(true);
          expect(topology.localRoots.flatMap((r) => r.accessPoints)).toEqual(relays);
          expect(config.PeerSharing).toBe(false);
          expect(service.secrets).toEqual({ dir: "/secrets", names: ["kes.skey", "vrf.skey", "node.cert"] });
          expect(spec.command).toContain("--shelley-kes-key");
        } else {
          expect(ProducerTopology.safeParse(topology).success).toBe(false);
          expect(topology.bootstrapPeers).toEqual(NETWORKS[network].bootstrapPeers);
          expect(topology.localRoots[0]!.accessPoints).toEqual(producer);
          expect(service.secrets).toBeUndefined();
          expect(spec.command).not.toContain("--shelley-kes-key");
        }
      });
    }
  }

  it("sizes mainnet as the issue says and the testnets far smaller", () => {
    expect(NETWORKS.mainnet.resources.memoryMiB).toBeGreaterThanOrEqual(24 * 1024);
    expect(NETWORKS.mainnet.resources.diskGiB).toBeGreaterThanOrEqual(300);
    for (const n of ["preprod", "preview"] as const) expect(NETWORKS[n].resources.memoryMiB).toBeLessThan(NETWORKS.mainnet.resources.memoryMiB / 2);
  });

  it("pins the image by digest when the operator gives one, and refuses a producer without relays", () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    expect(nodeImage({ imageDigest: digest })).toBe(`ghcr.io/intersectmbo/cardano-node@${digest}`);
    expect(() => nodeImage({ imageDigest: "sha256:xyz" })).toThrow(/digest/);
    expect(() => renderPoolSpec({ network: "preprod", role: PoolRole.BlockProducer, peers: [], leaseMs: 1000 })).toThrow(/at least one relay/);
    const mithril = renderPoolSpec({ network: "preprod", role: PoolRole.Relay, peers: [], leaseMs: 1000, mithril: { genesisVerificationKey: "5b3132" } });
    expect(mithril.env.AGGREGATOR_ENDPOINT).toBe(NETWORKS.preprod.mithrilAggregator);
  });

  it("refuses a topology that would make a producer reachable by strangers", () => {
    const bad = { bootstrapPeers: null, localRoots: [{ accessPoints: relays, advertise: true, trustable: true, valency: 2 }], publicRoots: [], useLedgerAfterSlot: -1 };
    expect(ProducerTopology.safeParse(bad).success).toBe(false);
    expect(ProducerTopology.safeParse({ ...bad, localRoots: [{ ...bad.localRoots[0], advertise: false }], useLedgerAfterSlot: 5 }).success).toBe(false);
    expect(Topology.safeParse({ ...bad, localRoots: [{ accessPoints: [{ address: "bad host!", port: 1 }], advertise: false, trustable: true, valency: 1 }] }).success).toBe(false);
  });
});

describe("a matched pool spec on a provider", () => {
  const limits = { maxCpuCores: 8, maxMemoryMiB: 32 * 1024, maxDiskGiB: 400, maxGpus: 0, maxDurationMs: 3_600_000, maxConcurrentJobs: 4 } as unknown as Parameters<typeof serviceRequestFromSpec>[0]["limits"];
  it("becomes a service request the runner's schema takes, or a coded refusal over the limits", () => {
    const spec = renderPoolSpec({ network: "mainnet", role: PoolRole.Relay, peers: producer, leaseMs: 30 * 86_400_000 });
    const request = serviceRequestFromSpec({ spec, jobHash: jobHash(spec), limits });
    expect(serviceRequestSchema.safeParse(request).success).toBe(true);
    expect(request.service.volume!.sizeMiB).toBe(300 * 1024);
    expect(() => serviceRequestFromSpec({ spec, jobHash: jobHash(spec), limits: { ...limits, maxMemoryMiB: 8 * 1024 } })).toThrow(/memory 24576 MiB > 8192/);
    const batch = { ...spec, kind: undefined, service: undefined, network: "none" as const };
    expect(() => serviceRequestFromSpec({ spec: batch, jobHash: "00".repeat(32), limits })).toThrow(/not a service job/);
  });
});
