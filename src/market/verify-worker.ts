/** Worker thread body of the verify pool: decodes and verifies batches of raw messages. */
import { parentPort } from "node:worker_threads";
import { decodeBidTerms, decodeOffer, decodeProviderConfirm } from "./decode.js";

export interface VerifyBatch {
  id: number;
  kind: "bid" | "offer" | "confirm";
  now: number;
  items: Uint8Array[];
}

parentPort?.on("message", (batch: VerifyBatch) => {
  const decode = batch.kind === "bid" ? decodeBidTerms : batch.kind === "offer" ? decodeOffer : (data: Uint8Array) => decodeProviderConfirm(data);
  const results = batch.items.map((item) => decode(item, { now: batch.now }));
  parentPort!.postMessage({ id: batch.id, results });
});

parentPort?.postMessage({ ready: true });
