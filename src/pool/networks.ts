/**
 * What differs between Cardano networks for a stake-pool node. Resource figures are the provider-side sizing of
 * a lease (memory, disk, cores), with headroom over what cardano-node 10.x uses today; mainnet's are the ones the
 * issue gives (about 24 GB of memory, 300 GB or more of disk). Bootstrap peers are the networks' published
 * backbone / relay entry points; Mithril aggregators are the release endpoints.
 */

export const PoolNetwork = { Mainnet: "mainnet", Preprod: "preprod", Preview: "preview" } as const;
export type PoolNetwork = (typeof PoolNetwork)[keyof typeof PoolNetwork];
export const POOL_NETWORKS: readonly PoolNetwork[] = ["mainnet", "preprod", "preview"];

export interface NetworkProfile {
  magic: number;
  /** The node's default ledger-peer switch-over slot for relays (after this, relays find peers from the ledger). */
  useLedgerAfterSlot: number;
  bootstrapPeers: Array<{ address: string; port: number }>;
  mithrilAggregator: string;
  resources: { cpuCores: number; memoryMiB: number; diskGiB: number };
  /** Where the official image keeps this network's genesis files. */
  genesisDir: string;
}

const GiB = 1024;

export const NETWORKS: Record<PoolNetwork, NetworkProfile> = {
  mainnet: {
    magic: 764824073,
    useLedgerAfterSlot: 128_908_821,
    bootstrapPeers: [
      { address: "backbone.cardano.iog.io", port: 3001 },
      { address: "backbone.mainnet.emurgornd.com", port: 3001 },
      { address: "backbone.mainnet.cardanofoundation.org", port: 3001 },
    ],
    mithrilAggregator: "https://aggregator.release-mainnet.api.mithril.network/aggregator",
    resources: { cpuCores: 4, memoryMiB: 24 * GiB, diskGiB: 300 },
    genesisDir: "/opt/cardano/config/mainnet",
  },
  preprod: {
    magic: 1,
    useLedgerAfterSlot: 76_924_800,
    bootstrapPeers: [{ address: "preprod-node.play.dev.cardano.org", port: 3001 }],
    mithrilAggregator: "https://aggregator.release-preprod.api.mithril.network/aggregator",
    resources: { cpuCores: 2, memoryMiB: 8 * GiB, diskGiB: 60 },
    genesisDir: "/opt/cardano/config/preprod",
  },
  preview: {
    magic: 2,
    useLedgerAfterSlot: 53_827_185,
    bootstrapPeers: [{ address: "preview-node.play.dev.cardano.org", port: 3001 }],
    mithrilAggregator: "https://aggregator.pre-release-preview.api.mithril.network/aggregator",
    resources: { cpuCores: 2, memoryMiB: 6 * GiB, diskGiB: 40 },
    genesisDir: "/opt/cardano/config/preview",
  },
};

/** The node-to-node port every template publishes, and the Prometheus port (never published). */
export const NODE_PORT = 3001;
export const PROMETHEUS_PORT = 12798;
