/**
 * A client configured as an operator would for a TLS cluster: every node's URL comma-separated in NTX_NATS_URL,
 * the CA in NTX_NATS_CA, a client certificate and key (mutual TLS) in NTX_NATS_CERT / NTX_NATS_KEY. The servers
 * require and verify client certificates. Certificates are made here with the openssl CLI, outside the project's
 * code.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, ensureMarketInfrastructure, natsOptionsFromEnv } from "../../src/nats/index.js";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.js";

let dir: string;
let cluster: NatsCluster;

const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-cluster-tls-"));
  const f = (name: string) => join(dir, name);
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ntx test CA", "-keyout", f("ca.key"), "-out", f("ca.pem"));
  await writeFile(f("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await writeFile(f("client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const who of ["server", "client"]) {
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=ntx ${who}`, "-keyout", f(`${who}.key`), "-out", f(`${who}.csr`));
    openssl("x509", "-req", "-in", f(`${who}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "1", "-extfile", f(`${who}.ext`), "-out", f(`${who}.pem`));
  }
  cluster = await startNatsCluster({ nodes: 3, config: `tls { cert_file: "${f("server.pem")}", key_file: "${f("server.key")}", ca_file: "${f("ca.pem")}", verify: true }` });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a TLS NATS cluster, configured through NTX_NATS_*", () => {
  it("is reached with the CA and a client certificate from the environment, and the market is set up at 3 replicas", async () => {
    const options = natsOptionsFromEnv({ NTX_NATS_URL: cluster.url, NTX_NATS_CA: join(dir, "ca.pem"), NTX_NATS_CERT: join(dir, "client.pem"), NTX_NATS_KEY: join(dir, "client.key") });
    expect(options.servers).toHaveLength(3);
    const nc = await connectNats({ ...options, timeoutMs: 10_000 });
    expect(nc.info?.tls_required).toBe(true);
    await ensureMarketInfrastructure(nc);
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("NTX_BIDS")).config.num_replicas).toBe(3);
    await nc.close();
  });

  it("a client without a certificate is refused with a clear error, and its connect times out rather than hanging", async () => {
    const options = natsOptionsFromEnv({ NTX_NATS_URL: cluster.url, NTX_NATS_CA: join(dir, "ca.pem") });
    const outcome = await connectNats({ ...options, timeoutMs: 5_000 }).then(
      async (nc) => {
        await nc.close();
        return "connected";
      },
      (error: unknown) => (error as { code?: string }).code ?? String(error),
    );
    expect(outcome).toMatch(/^NATS_(UNREACHABLE|AUTH)$/);
  }, 90_000);
});
