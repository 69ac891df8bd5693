/**
 * A Docker socket that can die: a unix-socket proxy in front of the shared engine's socket. A provider pointed at
 * it (DOCKER_HOST=unix://<path>) loses Docker when this process is killed, the way it would when dockerd dies,
 * without stopping the engine other people's tests use.
 *   node --import tsx docker-proxy.ts <socket path> [engine socket]
 */
import { createConnection, createServer } from "node:net";
import { rmSync } from "node:fs";

const [path, engine = "/var/run/docker.sock"] = process.argv.slice(2);
rmSync(path!, { force: true });
const server = createServer((client) => {
  const upstream = createConnection(engine);
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", end);
  upstream.on("error", end);
  // The engine closing (an exec's hijacked stream when its container dies) ends the client's side once what is
  // in flight is delivered; the client going away drops the engine's side.
  upstream.on("close", () => client.end());
  client.on("close", () => upstream.destroy());
});
server.listen(path, () => process.stdout.write(JSON.stringify({ ready: true, path }) + "\n"));
process.once("SIGTERM", () => process.exit(0));
