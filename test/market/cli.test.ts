import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startNatsServer, type NatsServer } from "../helpers/nats.js";
import { waitFor } from "./harness.js";

const entry = fileURLToPath(new URL("./run-cli.ts", import.meta.url));
let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("ntx matcher", () => {
  it("runs N instances in one consumer group, serves their metrics, and stops on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", entry, "matcher", "--nats", server.url, "--instances", "2", "--workers", "1", "--metrics-port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    try {
      const lines = await waitFor("two instances up", () => {
        const started = out.split("\n").filter((l) => l.startsWith("{"));
        return started.length === 2 ? started.map((l) => JSON.parse(l) as { matcher: string; durable: string }) : undefined;
      }, 60_000);
      expect(new Set(lines.map((l) => l.matcher)).size).toBe(2);
      expect(lines.every((l) => l.durable === "ntx-matcher")).toBe(true);
      for (const p of [port, port + 1]) {
        const text = await (await fetch(`http://127.0.0.1:${p}/metrics`)).text();
        expect(text).toContain("ntx_market_rejected_total");
      }
      // Both share one durable consumer on the bids stream.
      const consumers = (await (await fetch(`http://127.0.0.1:${server.monitorPort}/jsz?consumers=true`)).json()) as { account_details?: { stream_detail?: { name: string; consumer_detail?: { name: string }[] }[] }[] };
      const bids = consumers.account_details?.[0]?.stream_detail?.find((s) => s.name === "NTX_BIDS");
      expect(bids?.consumer_detail?.map((c) => c.name)).toEqual(["ntx-matcher"]);
    } finally {
      child.kill("SIGTERM");
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(code, out).toBe(0);
    }
  });
});
