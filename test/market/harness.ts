/** A market on a real nats-server for the matcher tests: server, connections, transport, client. */
import { connectNats, createMarketClient, createNatsMarketTransport, type MarketClient, type NatsConnection, type NatsMarketTransport } from "../../src/nats/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

export interface Market {
  server: NatsServer;
  nc: NatsConnection;
  client: MarketClient;
  connections: NatsConnection[];
  /** A transport on its own connection, as a separate matcher instance would have. */
  transport(): Promise<{ transport: NatsMarketTransport; nc: NatsConnection }>;
  close(): Promise<void>;
}

export async function startMarket(): Promise<Market> {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: server.url, name: "test-client" });
  const connections: NatsConnection[] = [nc];
  const transports: NatsMarketTransport[] = [];
  // Creates the streams and buckets before anything is published.
  transports.push(await createNatsMarketTransport(nc));
  return {
    server,
    nc,
    client: createMarketClient(nc),
    connections,
    async transport() {
      const c = await connectNats({ servers: server.url, name: "test-matcher" });
      connections.push(c);
      const t = await createNatsMarketTransport(c);
      transports.push(t);
      return { transport: t, nc: c };
    },
    async close() {
      for (const t of transports) await t.close().catch(() => undefined);
      for (const c of connections) await c.close().catch(() => undefined);
      await server.stop();
    },
  };
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const decodeJson = <T>(data: Uint8Array): T => JSON.parse(new TextDecoder().decode(data)) as T;
