import { NtxError } from "../../offchain/errors.js";
import { JobSpec, type JobSpec as JobSpecType } from "../market/schemas.js";
import { NETWORKS, NODE_PORT, PROMETHEUS_PORT, type PoolNetwork } from "./networks.js";
import { PoolRole, renderConfig, renderProducerTopology, renderRelayTopology, type AccessPoint } from "./node-config.js";

/**
 * A stake-pool node as a service job spec: the official cardano-node image (pinned by tag, by digest when the
 * operator gives one), its configuration and topology for the role, port 3001 published and nothing else, the
 * socket in a RAM folder, Prometheus scraped by the provider (not published), the chain DB on a volume of the
 * network's size, and for a block producer the KES key, VRF key and operational certificate delivered sealed
 * (never in the spec). Cold keys never leave the operator.
 */

/** The official image's repository and the release the templates are tested against. */
export const NODE_IMAGE_REPOSITORY = "ghcr.io/intersectmbo/cardano-node";
export const NODE_RELEASE = "10.1.4";
export const SOCKET_PATH = "/ipc/node.socket";
export const PRODUCER_SECRETS = ["kes.skey", "vrf.skey", "node.cert"] as const;

export interface PoolTemplateParams {
  network: PoolNetwork;
  role: PoolRole;
  /** A block producer's relays (required for one); a relay's producer(s), kept private. */
  peers: readonly AccessPoint[];
  /** `sha256:<64 hex>` of the image the operator verified; pins it by digest. */
  imageDigest?: string;
  /** Another image honouring the same contract (a local build, the stand-in in tests). */
  image?: string;
  /** How long the lease runs (the job's maxDurationMs). */
  leaseMs: number;
  noticeMs?: number;
  /** Smaller than the network's profile only for tests and dry runs. */
  resources?: { cpuCores: number; memoryMiB: number; diskGiB: number };
  /** Volume size in MiB; defaults to the whole disk bought. */
  volumeMiB?: number;
  /** Bootstrap the DB from a Mithril snapshot (the image must bundle mithril-client: it reads these variables). */
  mithril?: { genesisVerificationKey: string };
  salt?: string;
}

export function nodeImage(params: Pick<PoolTemplateParams, "image" | "imageDigest">): string {
  if (params.image) return params.image;
  if (params.imageDigest) {
    if (!/^sha256:[0-9a-f]{64}$/.test(params.imageDigest)) throw new NtxError("POOL_TEMPLATE_INVALID", "an image digest is sha256:<64 hex>");
    return `${NODE_IMAGE_REPOSITORY}@${params.imageDigest}`;
  }
  return `${NODE_IMAGE_REPOSITORY}:${NODE_RELEASE}`;
}

export function nodeCommand(role: PoolRole): string[] {
  const args = ["cardano-node", "run", "--config", "/config/config.json", "--topology", "/config/topology.json", "--database-path", "/data/db", "--socket-path", SOCKET_PATH, "--host-addr", "0.0.0.0", "--port", String(NODE_PORT)];
  if (role === PoolRole.BlockProducer) args.push("--shelley-kes-key", "/secrets/kes.skey", "--shelley-vrf-key", "/secrets/vrf.skey", "--shelley-operational-certificate", "/secrets/node.cert");
  return args;
}

export function renderPoolSpec(params: PoolTemplateParams): JobSpecType {
  const profile = NETWORKS[params.network];
  const producer = params.role === PoolRole.BlockProducer;
  if (producer && params.peers.length === 0) throw new NtxError("POOL_TEMPLATE_INVALID", "a block producer needs at least one relay to peer with");
  const resources = params.resources ?? profile.resources;
  const topology = producer ? renderProducerTopology(params.peers) : renderRelayTopology(params.network, params.peers);
  const config = renderConfig(params.network, params.role, producer ? params.peers.length : undefined);
  const spec = {
    kind: "service" as const,
    image: nodeImage(params),
    command: nodeCommand(params.role),
    env: {
      CARDANO_NODE_SOCKET_PATH: SOCKET_PATH,
      NETWORK: params.network,
      ...(params.mithril ? { AGGREGATOR_ENDPOINT: profile.mithrilAggregator, GENESIS_VERIFICATION_KEY: params.mithril.genesisVerificationKey, MITHRIL_SYNC: "true" } : {}),
    },
    resources,
    maxDurationMs: params.leaseMs,
    outputs: [],
    network: "egress" as const,
    service: {
      restart: { policy: "always" as const, maxRestarts: 0 },
      volume: { name: "db", mountPath: "/data", sizeMiB: params.volumeMiB ?? resources.diskGiB * 1024 },
      ports: [{ container: NODE_PORT, protocol: "tcp" as const }],
      health: { kind: "prometheus" as const, port: PROMETHEUS_PORT, path: "/metrics", metric: "cardano_node_metrics_slotNum_int" },
      noticeMs: params.noticeMs ?? 24 * 3_600_000,
      files: { dir: "/config", entries: { "config.json": JSON.stringify(config, null, 2), "topology.json": JSON.stringify(topology, null, 2) } },
      ...(producer ? { secrets: { dir: "/secrets", names: [...PRODUCER_SECRETS] } } : {}),
      scratch: ["/ipc"],
    },
    ...(params.salt ? { salt: params.salt } : {}),
  };
  const parsed = JobSpec.safeParse(spec);
  if (!parsed.success) throw new NtxError("POOL_TEMPLATE_INVALID", `the rendered spec is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}
