import { open } from "node:fs/promises";
import { NtxError } from "../../../offchain/errors.js";
import type { NatsConnection } from "../../nats/connection.js";
import { BucketNames, openResultStore } from "../../nats/setup.js";
import type { ResultStore } from "../types.js";

const CHUNK = 128 * 1024;

/** Results in the NATS object store under the job hash; the locator is `nats-obj://<bucket>/<jobHash>`. */
export function createNatsResultStore(nc: NatsConnection): ResultStore {
  let store: ReturnType<typeof openResultStore> | undefined;
  return {
    async put(jobHash, archiveFile, onProgress) {
      // A failed open (a timeout under load) is not kept: the next attempt opens again rather than failing the same way.
      const opening = (store ??= openResultStore(nc));
      const os = await opening.catch((error: unknown) => {
        if (store === opening) store = undefined;
        throw error;
      });
      const file = await open(archiveFile, "r");
      try {
        const total = (await file.stat()).size;
        let offset = 0;
        // A pull stream read from the file chunk by chunk: the archive is never whole in memory, and progress
        // follows what the client has actually taken.
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (offset >= total) {
              controller.close();
              return;
            }
            const chunk = Buffer.alloc(Math.min(CHUNK, total - offset));
            const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
            if (bytesRead === 0) {
              controller.error(new Error(`${archiveFile} shrank while uploading`));
              return;
            }
            offset += bytesRead;
            controller.enqueue(chunk.subarray(0, bytesRead));
            onProgress?.(offset, total);
          },
        });
        await os.put({ name: jobHash, description: "ntx job result (deterministic tar)" }, body);
      } catch (error) {
        throw new NtxError("RESULT_UPLOAD_FAILED", `cannot store the result of ${jobHash}: ${(error as Error).message}`, { retryable: true, cause: error });
      } finally {
        await file.close();
      }
      return `nats-obj://${BucketNames.results}/${jobHash}`;
    },
  };
}
