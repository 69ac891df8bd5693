/**
 * One way to connect to NATS for every component: servers, user/password, token or a .creds file, TLS when
 * configured, reconnect with backoff. A server that cannot be reached becomes a retryable NtxError instead of a
 * raw socket error.
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { readFile } from "node:fs/promises";
import { credentialsOf } from "./roles.js";
import { NtxError } from "../../offchain/errors.js";

export type { NatsConnection };

export interface NatsConnectOptions {
  servers: string | string[];
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS .creds file (JWT + nkey seed). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** First-connect timeout. */
  timeoutMs?: number;
  /** -1 = forever (daemons); the default gives up after about a minute. */
  maxReconnectAttempts?: number;
}

/** Options from the environment: NTX_NATS_URL, NTX_NATS_USER, NTX_NATS_PASSWORD, NTX_NATS_TOKEN, NTX_NATS_CREDS, NTX_NATS_CA/CERT/KEY. */
export function natsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NatsConnectOptions {
  const options: NatsConnectOptions = { servers: splitServers(env.NTX_NATS_URL ?? "nats://127.0.0.1:4222") };
  if (env.NTX_NATS_USER) options.user = env.NTX_NATS_USER;
  if (env.NTX_NATS_PASSWORD) options.pass = env.NTX_NATS_PASSWORD;
  if (env.NTX_NATS_TOKEN) options.token = env.NTX_NATS_TOKEN;
  if (env.NTX_NATS_CREDS) options.credsFile = env.NTX_NATS_CREDS;
  if (env.NTX_NATS_CA || env.NTX_NATS_CERT) {
    options.tls = {};
    if (env.NTX_NATS_CA) options.tls.caFile = env.NTX_NATS_CA;
    if (env.NTX_NATS_CERT) options.tls.certFile = env.NTX_NATS_CERT;
    if (env.NTX_NATS_KEY) options.tls.keyFile = env.NTX_NATS_KEY;
  }
  return options;
}

/** `a,b , c` or ["a,b", "c"] → ["a", "b", "c"]: the servers of a cluster, however they were written. */
export function splitServers(servers: string | string[]): string[] {
  return (Array.isArray(servers) ? servers : [servers]).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s.length > 0);
}

export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  // Credentials may ride in a server URL (`nats://role:password@host:port`, as `ntx up` hands them out).
  // Several servers (a cluster) may come as a list or as one comma-separated string (`--nats`, NTX_NATS_URL).
  const parsed = splitServers(options.servers).map(credentialsOf);
  const servers = parsed.map((p) => p.server);
  const fromUrl = parsed.find((p) => p.user !== undefined);
  if (fromUrl && options.user === undefined) options = { ...options, user: fromUrl.user!, pass: fromUrl.pass ?? "" };
  try {
    return await connect({
      servers,
      name: options.name ?? "ntx",
      ...(options.user !== undefined ? { user: options.user, pass: options.pass ?? "" } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.credsFile ? { authenticator: credsAuthenticator(await readFile(options.credsFile)) } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      timeout: options.timeoutMs ?? 5_000,
      reconnect: true,
      maxReconnectAttempts: options.maxReconnectAttempts ?? 30,
      reconnectTimeWait: 1_000,
      reconnectJitter: 250,
      // Back off: 0.25 s doubling to 8 s between attempts, so a restarting server is not hammered.
      reconnectDelayHandler: (() => {
        let attempt = 0;
        return () => Math.min(8_000, 250 * 2 ** Math.min(attempt++, 5));
      })(),
      pingInterval: 10_000,
      // The servers given are the pool: a cluster's gossiped URLs are not added. During a first connect that fails
      // after the server's INFO (a mutual-TLS cluster refusing a client without a certificate) each node's INFO put
      // back the nodes already tried and dropped, so the connect went round the cluster for ever, whatever
      // `timeout` (test/nats/cluster-tls.test.ts). Operators list every node (README, "Running on a NATS cluster").
      ignoreClusterUpdates: true,
      // Every request (each JetStream publish, KV write) would otherwise build an Error with a stack trace up
      // front just in case it fails: a measurable share of the matcher's main thread at thousands per second.
      noAsyncTraces: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/authorization|authentication|permission/i.test(message)) {
      throw new NtxError("NATS_AUTH", `NATS refused the credentials (${servers.join(", ")}): ${message}`, { cause: error });
    }
    throw new NtxError("NATS_UNREACHABLE", `cannot reach NATS at ${servers.join(", ")}: ${message}`, { retryable: true, cause: error });
  }
}
