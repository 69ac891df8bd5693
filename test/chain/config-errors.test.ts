import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChain, loadChainConfig } from "../../offchain/chain/index.js";
import { isNtxError } from "../../offchain/errors.js";

describe("chain config", () => {
  it("defaults to the local devnet chain server without a project id", () => {
    expect(loadChainConfig({})).toMatchObject({ network: "devnet", blockfrostUrl: "http://127.0.0.1:3010" });
  });

  it("takes network, URL and project id from the environment", () => {
    const config = loadChainConfig({ NTX_NETWORK: "preprod", BLOCKFROST_PROJECT_ID: "preprodAbc123" });
    expect(config).toMatchObject({ network: "preprod", blockfrostUrl: "https://cardano-preprod.blockfrost.io/api/v0", projectId: "preprodAbc123" });
    expect(loadChainConfig({ BLOCKFROST_URL: "http://127.0.0.1:9999/" }).blockfrostUrl).toBe("http://127.0.0.1:9999");
  });

  it("refuses a real network without a project id, a project id of another network, and unknown networks", () => {
    for (const [env, pattern] of [
      [{ NTX_NETWORK: "mainnet" }, /BLOCKFROST_PROJECT_ID/],
      [{ NTX_NETWORK: "preview", BLOCKFROST_PROJECT_ID: "mainnetXyz" }, /another network/],
      [{ NTX_NETWORK: "testnet" }, /unknown network/],
      [{ BLOCKFROST_URL: "not a url" }, /blockfrostUrl/],
    ] as const) {
      const error = (() => {
        try {
          loadChainConfig(env);
        } catch (e) {
          return e;
        }
      })();
      expect(isNtxError(error, "CHAIN_CONFIG_INVALID"), JSON.stringify(env)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    }
  });
});

// A Blockfrost that fails: refusals of the project id are not retryable, server errors are.
describe("chain errors from a failing Blockfrost", () => {
  let server: Server;
  let url = "";
  let status = 500;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ status_code: status, error: "Oops", message: `failing with ${status}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("maps 5xx to a retryable CHAIN_UNAVAILABLE and 403 to CHAIN_AUTH_FAILED", async () => {
    const chain = createChain({ network: "devnet", blockfrostUrl: url, requestTimeoutMs: 5_000 });
    status = 500;
    const unavailable = await chain.tip().catch((e: unknown) => e);
    expect(isNtxError(unavailable, "CHAIN_UNAVAILABLE")).toBe(true);
    expect((unavailable as { retryable: boolean }).retryable).toBe(true);
    status = 403;
    const auth = await chain.utxosAt("addr_test1vp96xcz8tjp0eh3pj9vq9sf7p9kmfsy9gk6ku4w3m2mn7fszlkuuu").catch((e: unknown) => e);
    expect(isNtxError(auth, "CHAIN_AUTH_FAILED")).toBe(true);
    expect((auth as Error).message).toContain("BLOCKFROST_PROJECT_ID");
  });
});
