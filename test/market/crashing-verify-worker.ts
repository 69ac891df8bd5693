/**
 * A verifier thread that dies, as a native crash or an OOM would, whenever its batch holds a message with the
 * marker below; otherwise it is the real verify-worker. Used to drive the pool's recovery from outside.
 */
import { parentPort } from "node:worker_threads";

export const CRASH_MARKER = "kill-the-verifier-thread";

parentPort?.on("message", (batch: { items: Uint8Array[] }) => {
  if (batch.items.some((item) => Buffer.from(item).includes(CRASH_MARKER))) process.exit(70);
});
await import("../../src/market/verify-worker.js");
