import { randomBytes } from "node:crypto";
import type { ServiceRequestInput } from "../../src/provider/service/types.js";

/**
 * A service request for the stand-in node image (scripts/standin-node-image.sh): the command line, ports, health
 * probe and volume of a cardano-node relay, small enough for a test. `service` replaces any of the service's
 * settings (volume size, notice, topology files…).
 */
export function standinNodeRequest(image: string, service: Partial<ServiceRequestInput["service"]> = {}): ServiceRequestInput {
  return {
    jobHash: randomBytes(32).toString("hex"),
    image,
    command: ["cardano-node", "run", "--config", "/config/config.json", "--topology", "/config/topology.json", "--database-path", "/data/db", "--socket-path", "/ipc/node.socket", "--host-addr", "0.0.0.0", "--port", "3001"],
    env: {},
    resources: { cpuCores: 0.5, memoryMiB: 64, pids: 64 },
    service: {
      restart: { policy: "always", maxRestarts: 0 },
      volume: { name: "db", mountPath: "/data", sizeMiB: 32 },
      ports: [{ container: 3001, protocol: "tcp" }],
      health: { kind: "prometheus", port: 12798, path: "/metrics", metric: "cardano_node_metrics_slotNum_int" },
      noticeMs: 60_000,
      files: { dir: "/config", entries: { "config.json": "{}", "topology.json": JSON.stringify({ localRoots: [] }) } },
      ...service,
    },
  };
}
