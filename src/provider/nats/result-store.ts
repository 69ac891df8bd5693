import { NtxError } from "../../../offchain/errors.js";
import type { NatsConnection } from "../../nats/connection.js";
import { BucketNames, openResultStore } from "../../nats/setup.js";
import type { ResultStore } from "../types.js";

const CHUNK = 128 * 1024;

/** Results in the NATS object store under the job hash; the locator is `nats-obj://<bucket>/<jobHash>`. */
export function createNatsResultStore(nc: NatsConnection): ResultStore {
  let store: ReturnType<typeof openResultStore> | undefined;
  return {
    async put(jobHash, archive, onProgress) {
      store ??= openResultStore(nc);
      const os = await store;
      let offset = 0;
      // A pull stream so progress follows what the client has actually taken, chunk by chunk.
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= archive.length) {
            controller.close();
            return;
          }
          const chunk = archive.subarray(offset, Math.min(offset + CHUNK, archive.length));
          offset += chunk.length;
          controller.enqueue(chunk);
          onProgress?.(offset, archive.length);
        },
      });
      try {
        await os.put({ name: jobHash, description: "ntx job result (deterministic tar)" }, body);
      } catch (error) {
        throw new NtxError("RESULT_UPLOAD_FAILED", `cannot store the result of ${jobHash}: ${(error as Error).message}`, { retryable: true, cause: error });
      }
      return `nats-obj://${BucketNames.results}/${jobHash}`;
    },
  };
}
