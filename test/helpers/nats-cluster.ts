/**
 * Starts a real cluster of `nats-server -js` nodes on loopback for a test or bench: free ports (client, route,
 * monitoring) per node, a store dir each, full-mesh routes, and waits for a JetStream meta leader. A node can be
 * killed (SIGKILL by default) and restarted on the same ports over the same store, as an operator's node that
 * crashed and came back. Reads cluster state from the monitoring endpoint (`/jsz`), so it needs no credentials
 * and stays free of project imports, like ./nats.ts.
 *
 *   const cluster = await startNatsCluster({ nodes: 3 });
 *   afterAll(() => cluster.stop());
 *   const leader = await cluster.waitForMetaLeader();
 *   await cluster.kill(cluster.indexOf(leader));
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats.js";

export interface NatsClusterOptions {
  /** Nodes in the cluster (default 3). */
  nodes?: number;
  /** Extra config text for every node (e.g. the shipped permissions). */
  config?: string;
  /** nats-server binary; default `NATS_SERVER_BIN` or `nats-server` on PATH. */
  bin?: string;
  startTimeoutMs?: number;
}

export interface NatsClusterNode {
  name: string;
  /** `nats://127.0.0.1:<port>` */
  url: string;
  port: number;
  routePort: number;
  monitorPort: number;
  storeDir: string;
  /** Pid of the running process, or undefined while the node is down. */
  pid(): number | undefined;
  running(): boolean;
  log(): string;
}

export interface StreamClusterState {
  leader?: string;
  /** Replicas other than the leader, as the leader reports them. */
  replicas: Array<{ name: string; current: boolean }>;
  messages: number;
}

export interface NatsCluster {
  nodes: NatsClusterNode[];
  /** Every node's client URL. */
  urls: string[];
  /** The client URLs comma-separated, as `--nats` / NTX_NATS_URL take them. */
  url: string;
  indexOf(name: string): number;
  /** Kills node `i` (SIGKILL unless told) and waits for its exit; its store stays for a restart. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node `i` again on its ports and store; waits until it answers /healthz?js-enabled-only. */
  restart(i: number): Promise<void>;
  /** The meta leader as a running node sees it, or undefined while there is none. */
  metaLeader(): Promise<string | undefined>;
  /** Waits until the running nodes agree on one meta leader (that is itself running). */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** A stream's raft state as its leader reports it (undefined when no running node has a leader for it). */
  streamState(stream: string): Promise<StreamClusterState | undefined>;
  /** Waits until each stream has a leader and `replicas - 1` other replicas, all current. */
  waitForStreamsCurrent(streams: string[], replicas?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface JszAnswer {
  meta_cluster?: { leader?: string };
  account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string; replicas?: Array<{ name: string; current: boolean }> }; state?: { messages?: number } }> }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function jsz(monitorPort: number, query = ""): Promise<JszAnswer | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz${query}`, { signal: AbortSignal.timeout(5_000) });
    return res.ok ? ((await res.json()) as JszAnswer) : undefined;
  } catch {
    return undefined;
  }
}

export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  const bin = options.bin ?? process.env.NATS_SERVER_BIN ?? "nats-server";
  const root = await mkdtemp(join(tmpdir(), "ntx-nats-cluster-"));
  const clusterName = `ntx-test-${root.split("-").pop()}`;
  const ports: Array<{ port: number; routePort: number; monitorPort: number }> = [];
  const taken = new Set<number>();
  const pick = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return taken.add(p), p;
    }
  };
  for (let i = 0; i < count; i++) ports.push({ port: await pick(), routePort: await pick(), monitorPort: await pick() });
  const routes = ports.map((p) => `"nats-route://127.0.0.1:${p.routePort}"`).join(", ");

  interface State {
    child?: ChildProcess;
    exited?: Promise<void>;
    output: string;
  }
  const states: State[] = ports.map(() => ({ output: "" }));
  const nodes: NatsClusterNode[] = ports.map((p, i) => ({
    name: `n${i}`,
    url: `nats://127.0.0.1:${p.port}`,
    ...p,
    storeDir: join(root, `n${i}`),
    pid: () => (states[i]!.child && states[i]!.child!.exitCode === null && states[i]!.child!.signalCode === null ? states[i]!.child!.pid : undefined),
    running: () => nodes[i]!.pid() !== undefined,
    log: () => states[i]!.output,
  }));

  const configOf = (i: number) => {
    const n = nodes[i]!;
    return [
      `server_name: ${n.name}`,
      `listen: 127.0.0.1:${n.port}`,
      `http: 127.0.0.1:${n.monitorPort}`,
      `jetstream { store_dir: "${n.storeDir}" }`,
      `cluster { name: ${clusterName}, listen: 127.0.0.1:${n.routePort}, routes: [ ${routes} ] }`,
      options.config ?? "",
      "",
    ].join("\n");
  };

  const launch = async (i: number) => {
    const configFile = join(root, `n${i}.conf`);
    await writeFile(configFile, configOf(i));
    const state = states[i]!;
    const child = spawn(bin, ["-c", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d: Buffer) => (state.output = (state.output + d.toString()).slice(-20_000));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    state.child = child;
    state.exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.once("error", (e) => (state.output += `\nspawn error: ${e.message}`));
  };

  const waitHealthy = async (i: number, deadline: number) => {
    const n = nodes[i]!;
    for (;;) {
      if (states[i]!.child?.exitCode !== null || states[i]!.child?.signalCode !== null) {
        throw new Error(`nats-server ${n.name} exited during start (is ${bin} installed? run scripts/setup.sh):\n${n.log()}`);
      }
      // js-enabled-only: a lone node of a forming cluster is healthy once JetStream runs, before any leader.
      const ok = await fetch(`http://127.0.0.1:${n.monitorPort}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`nats-server ${n.name} did not become healthy on port ${n.port}:\n${n.log()}`);
      await sleep(50);
    }
  };

  const startTimeout = options.startTimeoutMs ?? 30_000;
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    url: nodes.map((n) => n.url).join(","),
    indexOf(name) {
      const i = nodes.findIndex((n) => n.name === name);
      if (i < 0) throw new Error(`no node named ${name}`);
      return i;
    },
    async kill(i, signal = "SIGKILL") {
      const state = states[i]!;
      if (!nodes[i]!.running()) return;
      state.child!.kill(signal);
      const timer = setTimeout(() => state.child!.kill("SIGKILL"), 5_000);
      await state.exited;
      clearTimeout(timer);
    },
    async restart(i) {
      if (nodes[i]!.running()) throw new Error(`${nodes[i]!.name} is running`);
      await launch(i);
      await waitHealthy(i, Date.now() + startTimeout);
    },
    async metaLeader() {
      for (const n of nodes) {
        if (!n.running()) continue;
        const leader = (await jsz(n.monitorPort))?.meta_cluster?.leader;
        if (leader) return leader;
      }
      return undefined;
    },
    async waitForMetaLeader(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const seen = new Set<string | undefined>();
        for (const n of nodes.filter((x) => x.running())) seen.add((await jsz(n.monitorPort))?.meta_cluster?.leader);
        const [leader] = [...seen];
        if (seen.size === 1 && leader && nodes.some((n) => n.name === leader && n.running())) return leader;
        if (Date.now() > deadline) throw new Error(`no agreed JetStream meta leader within ${timeoutMs} ms (seen: ${[...seen].join(", ")})`);
        await sleep(100);
      }
    },
    async streamState(stream) {
      // The leader's own view is the one that knows which replicas are current.
      let fallback: StreamClusterState | undefined;
      for (const n of nodes) {
        if (!n.running()) continue;
        const answer = await jsz(n.monitorPort, "?streams=true&accounts=true");
        for (const account of answer?.account_details ?? []) {
          const detail = account.stream_detail?.find((s) => s.name === stream);
          if (!detail?.cluster?.leader) continue;
          const state = { leader: detail.cluster.leader, replicas: detail.cluster.replicas ?? [], messages: detail.state?.messages ?? 0 };
          if (detail.cluster.leader === n.name) return state;
          fallback ??= state;
        }
      }
      return fallback;
    },
    async waitForStreamsCurrent(streams, replicas = count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (const stream of streams) {
        for (;;) {
          const s = await cluster.streamState(stream);
          const leaderUp = s?.leader !== undefined && nodes.some((n) => n.name === s.leader && n.running());
          if (leaderUp && s!.replicas.length === replicas - 1 && s!.replicas.every((r) => r.current)) break;
          if (Date.now() > deadline) throw new Error(`stream ${stream} has not got ${replicas} current replicas within ${timeoutMs} ms: ${JSON.stringify(s)}`);
          await sleep(100);
        }
      }
    },
    async stop() {
      await Promise.all(nodes.map((_, i) => cluster.kill(i, "SIGTERM")));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 0; i < count; i++) await launch(i);
    const deadline = Date.now() + startTimeout;
    for (let i = 0; i < count; i++) await waitHealthy(i, deadline);
    await cluster.waitForMetaLeader(Math.max(1_000, deadline - Date.now()));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
