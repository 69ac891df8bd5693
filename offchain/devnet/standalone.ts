import { parseArgs } from "node:util";
import { startDevnetServer } from "./server.js";

/**
 * Runs the devnet chain server as its own process (test helpers start it so, to restart it for real). Prints one
 * JSON line `{"ready":true,"url":…,"port":…}` on stdout once it listens; stops cleanly on SIGTERM/SIGINT.
 */
const { values } = parseArgs({
  options: {
    "state-file": { type: "string" },
    port: { type: "string", default: "0" },
    "block-time": { type: "string", default: "1000" },
    host: { type: "string", default: "127.0.0.1" },
    expose: { type: "boolean", default: false },
    "exit-with-parent": { type: "boolean", default: false },
  },
});
if (!values["state-file"]) {
  console.error("devnet chain: --state-file is required");
  process.exit(2);
}
const server = await startDevnetServer({
  stateFile: values["state-file"],
  port: Number(values.port),
  host: values.host,
  expose: values.expose,
  blockTimeMs: Number(values["block-time"]),
  log: (m) => console.error(`[devnet-chain] ${m}`),
});
process.stdout.write(JSON.stringify({ ready: true, url: server.url, port: server.port }) + "\n");
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
// A parent that dies without stopping us (a crashed test runner) closes our stdin: do not outlive it.
if (values["exit-with-parent"]) {
  process.stdin.resume();
  process.stdin.once("end", stop);
  process.stdin.once("error", stop);
}
