/** Body of a tx-build thread: runs named builders against its own chain client, one request at a time. */
import { parentPort, workerData } from "node:worker_threads";
import { createChain, type ChainConfig } from "../../../offchain/chain/index.js";
import { NtxError } from "../../../offchain/errors.js";
import { isBuilderName, runBuilder, type BuilderName, type BuilderParams } from "./builders.js";

export interface BuildRequest {
  id: number;
  name: string;
  params: unknown;
}

export type BuildReply =
  | { id: number; ok: true; result: { tx: string; txHash: string; fee: string } }
  | { id: number; ok: false; error: { code: string; message: string; retryable: boolean; details?: Record<string, unknown> } };

const chain = createChain(workerData as ChainConfig);

function plainDetails(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return details && JSON.parse(JSON.stringify(details, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}

parentPort?.on("message", (request: BuildRequest) => {
  void (async (): Promise<BuildReply> => {
    try {
      if (!isBuilderName(request.name)) throw new NtxError("TX_BUILD_FAILED", `no transaction builder named ${request.name}`);
      const result = await runBuilder(chain, request.name as BuilderName, request.params as BuilderParams[BuilderName]);
      return { id: request.id, ok: true, result };
    } catch (error) {
      const e = error instanceof NtxError ? error : new NtxError("TX_BUILD_FAILED", error instanceof Error ? error.message : String(error));
      const details = plainDetails(e.details);
      return { id: request.id, ok: false, error: { code: e.code, message: e.message, retryable: e.retryable, ...(details ? { details } : {}) } };
    }
  })().then((reply) => parentPort!.postMessage(reply));
});

parentPort?.postMessage({ ready: true });
