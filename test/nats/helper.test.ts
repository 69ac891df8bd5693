import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startNatsServer } from "../helpers/nats.js";

describe("test/helpers/nats", () => {
  it("starts a JetStream server on a free port and removes its store on stop", async () => {
    const server = await startNatsServer();
    const varz = (await (await fetch(`http://127.0.0.1:${server.monitorPort}/jsz`)).json()) as { config?: { store_dir?: string } };
    expect(varz.config?.store_dir).toContain(server.storeDir);
    expect(existsSync(server.storeDir)).toBe(true);
    await server.stop();
    expect(existsSync(server.storeDir)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${server.monitorPort}/healthz`)).rejects.toThrow();
  });

  it("restarts over the same store dir and port", async () => {
    const first = await startNatsServer({ keepStore: true });
    await first.stop();
    const second = await startNatsServer({ storeDir: first.storeDir, port: first.port });
    expect(second.url).toBe(first.url);
    await second.stop();
    expect(existsSync(first.storeDir)).toBe(false);
  });
});
