import { mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevnetServer, type DevnetServer } from "../../offchain/devnet/index.js";

/** This machine's first non-loopback IPv4 address: a caller from it is "the network" to the server. */
function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}

const lan = outsideAddress();

describe("the devnet chain beyond loopback", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ntx-devnet-expose-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a non-loopback host without the expose flag", async () => {
    await expect(startDevnetServer({ stateFile: join(dir, "a", "state.json"), host: "0.0.0.0", blockTimeMs: 0 })).rejects.toMatchObject({ code: "EXPOSURE_NOT_ALLOWED" });
  });

  describe.skipIf(!lan)("exposed on a network address", () => {
    let server: DevnetServer;
    let opened: DevnetServer;
    const notices: string[] = [];
    beforeAll(async () => {
      server = await startDevnetServer({ stateFile: join(dir, "b", "state.json"), host: lan!, expose: true, blockTimeMs: 0, announce: (line) => notices.push(line) });
      opened = await startDevnetServer({ stateFile: join(dir, "c", "state.json"), host: lan!, expose: true, blockTimeMs: 0, openToNetwork: { faucet: true }, announce: () => undefined });
    });
    afterAll(async () => {
      await server?.close();
      await opened?.close();
    });

    it("says what it exposes", () => {
      expect(notices).toHaveLength(1);
      expect(notices[0]).toContain(server.url);
      expect(notices[0]).toMatch(/not the faucet/);
    });

    it("serves the chain API to the network, but not the faucet, forced blocks or evaluation", async () => {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const faucet = await fetch(`${server.url}/devnet/faucet`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect([faucet.status, ((await faucet.json()) as { status_code: number }).status_code]).toEqual([403, 403]);
      expect((await fetch(`${server.url}/devnet/block`, { method: "POST" })).status).toBe(403);
      expect((await fetch(`${server.url}/utils/txs/evaluate`, { method: "POST", headers: { "content-type": "application/cbor" }, body: "00" })).status).toBe(403);
      expect((await fetch(`${server.url}/utils/txs/evaluate/utxos`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(403);
    });

    it("opens only what is opened by its own flag", async () => {
      // Reaches the faucet (a 400 for the empty body, not a 403), while blocks stay closed.
      const faucet = await fetch(`${opened.url}/devnet/faucet`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(faucet.status).toBe(400);
      expect((await fetch(`${opened.url}/devnet/block`, { method: "POST" })).status).toBe(403);
    });
  });

  it("keeps serving every endpoint to callers on this machine", async () => {
    const local = await startDevnetServer({ stateFile: join(dir, "d", "state.json"), blockTimeMs: 0 });
    try {
      expect((await fetch(`${local.url}/devnet/block`, { method: "POST" })).status).toBe(200);
      expect((await fetch(`${local.url}/devnet/faucet`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(400);
    } finally {
      await local.close();
    }
  });
});
