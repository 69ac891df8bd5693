import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addressOfPrivateKey, createChain, newPrivateKey } from "../../offchain/chain/index.js";
import { startTestDevnet, type TestDevnet } from "../helpers/devnet.js";
import { startRecordingProxy } from "./blockfrost-schema.js";

// A wallet's out-ref list is read with a few requests in flight, never one per tx hash at once (Lucid's own
// provider fires them all), counted from outside by a proxy in front of the devnet.
describe("out-refs are read with bounded concurrency", () => {
  let devnet: TestDevnet;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  beforeAll(async () => {
    devnet = await startTestDevnet();
    proxy = await startRecordingProxy(devnet.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await devnet?.stop();
  });

  it("500 out-refs: at most 8 requests at a time; unknown ones are skipped, known ones found", async () => {
    const address = addressOfPrivateKey(newPrivateKey(), "devnet");
    const funded = await devnet.fund(address, 10_000_000n);
    const chain = createChain({ network: "devnet", blockfrostUrl: proxy.url, requestTimeoutMs: 20_000 });
    const refs = Array.from({ length: 499 }, () => ({ txHash: randomBytes(32).toString("hex"), outputIndex: 0 }));
    const found = await chain.utxosByOutRef([...refs, { txHash: funded, outputIndex: 0 }, { txHash: funded, outputIndex: 1 }]);
    expect(found.filter((u) => u.address === address)).toHaveLength(1);
    expect(proxy.answers.filter((a) => a.path.startsWith("/txs/")).length).toBe(500);
    expect(proxy.maxInFlight()).toBeGreaterThan(1);
    expect(proxy.maxInFlight()).toBeLessThanOrEqual(8);
  });

  it("a chain that fails is an error, not an empty wallet", async () => {
    const chain = createChain({ network: "devnet", blockfrostUrl: "http://127.0.0.1:9", requestTimeoutMs: 2_000 });
    await expect(chain.utxosByOutRef([{ txHash: "ab".repeat(32), outputIndex: 0 }])).rejects.toMatchObject({ code: "CHAIN_UNREACHABLE" });
  });
});
