import { z } from "zod/v4";
import { NETWORKS, PROMETHEUS_PORT, type PoolNetwork } from "./networks.js";

/**
 * cardano-node's configuration and P2P topology files, per role. Only the keys the templates set are modelled;
 * the schemas are what the tests hold every rendered file to. The block producer peers only with its own relays
 * (no public roots, no ledger peers, no peer sharing, nothing advertised); relays peer with the network and keep
 * their producer as a trusted local root it never advertises.
 */

export const PoolRole = { Relay: "relay", BlockProducer: "block-producer" } as const;
export type PoolRole = (typeof PoolRole)[keyof typeof PoolRole];

const Host = z.string().regex(/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\d{1,3}(\.\d{1,3}){3}$/, "host name or IPv4 address");
export const AccessPoint = z.object({ address: Host, port: z.number().int().min(1).max(65535) }).strict();
export type AccessPoint = z.infer<typeof AccessPoint>;

const LocalRoot = z.object({ accessPoints: z.array(AccessPoint).min(1).max(32), advertise: z.boolean(), trustable: z.boolean(), valency: z.number().int().positive() }).strict();
const PublicRoot = z.object({ accessPoints: z.array(AccessPoint).max(32), advertise: z.boolean() }).strict();

export const Topology = z
  .object({
    bootstrapPeers: z.array(AccessPoint).max(16).nullable(),
    localRoots: z.array(LocalRoot).max(8),
    publicRoots: z.array(PublicRoot).max(8),
    useLedgerAfterSlot: z.number().int(),
  })
  .strict();
export type Topology = z.infer<typeof Topology>;

/** A block producer's topology: its relays only, nothing advertised, no ledger or bootstrap peers. */
export const ProducerTopology = Topology.refine(
  (t) => t.bootstrapPeers === null && t.publicRoots.length === 0 && t.useLedgerAfterSlot < 0 && t.localRoots.length > 0 && t.localRoots.every((r) => !r.advertise && r.trustable),
  "a block producer peers only with its own relays, advertising nothing",
);

export const NodeConfig = z
  .object({
    Protocol: z.literal("Cardano"),
    RequiresNetworkMagic: z.enum(["RequiresMagic", "RequiresNoMagic"]),
    ByronGenesisFile: z.string().startsWith("/"),
    ShelleyGenesisFile: z.string().startsWith("/"),
    AlonzoGenesisFile: z.string().startsWith("/"),
    ConwayGenesisFile: z.string().startsWith("/"),
    EnableP2P: z.literal(true),
    PeerSharing: z.boolean(),
    TargetNumberOfActivePeers: z.number().int().positive(),
    TargetNumberOfEstablishedPeers: z.number().int().positive(),
    TargetNumberOfKnownPeers: z.number().int().positive(),
    TargetNumberOfRootPeers: z.number().int().nonnegative(),
    TurnOnLogMetrics: z.literal(true),
    TurnOnLogging: z.boolean(),
    hasPrometheus: z.tuple([z.string(), z.literal(PROMETHEUS_PORT)]),
    LastKnownBlockVersion_Major: z.number().int().optional(),
    MinNodeVersion: z.string().optional(),
  })
  .strict();
export type NodeConfig = z.infer<typeof NodeConfig>;

export function renderConfig(network: PoolNetwork, role: PoolRole, relayCount = 2): NodeConfig {
  const dir = NETWORKS[network].genesisDir;
  const producer = role === PoolRole.BlockProducer;
  return {
    Protocol: "Cardano",
    RequiresNetworkMagic: network === "mainnet" ? "RequiresNoMagic" : "RequiresMagic",
    ByronGenesisFile: `${dir}/byron-genesis.json`,
    ShelleyGenesisFile: `${dir}/shelley-genesis.json`,
    AlonzoGenesisFile: `${dir}/alonzo-genesis.json`,
    ConwayGenesisFile: `${dir}/conway-genesis.json`,
    EnableP2P: true,
    // A producer must not hand out its relays' addresses, nor learn peers it did not choose.
    PeerSharing: !producer,
    TargetNumberOfActivePeers: producer ? relayCount : 20,
    TargetNumberOfEstablishedPeers: producer ? relayCount : 40,
    TargetNumberOfKnownPeers: producer ? relayCount : 100,
    TargetNumberOfRootPeers: producer ? relayCount : 100,
    TurnOnLogMetrics: true,
    TurnOnLogging: true,
    // Bound inside the container; the port is never published, the provider scrapes it on the services network.
    hasPrometheus: ["0.0.0.0", PROMETHEUS_PORT],
  };
}

export function renderRelayTopology(network: PoolNetwork, producers: readonly AccessPoint[]): Topology {
  const profile = NETWORKS[network];
  return {
    bootstrapPeers: profile.bootstrapPeers,
    localRoots: producers.length > 0 ? [{ accessPoints: [...producers], advertise: false, trustable: true, valency: producers.length }] : [],
    publicRoots: [{ accessPoints: [], advertise: false }],
    useLedgerAfterSlot: profile.useLedgerAfterSlot,
  };
}

export function renderProducerTopology(relays: readonly AccessPoint[]): Topology {
  return {
    bootstrapPeers: null,
    localRoots: [{ accessPoints: [...relays], advertise: false, trustable: true, valency: relays.length }],
    publicRoots: [],
    useLedgerAfterSlot: -1,
  };
}
