/**
 * Starts a worker thread from a module given without its extension: `.js` when built, `.ts` from sources.
 * From TypeScript sources (tsx, vitest) node 20 does not apply `--import tsx` to a worker's entry module, so a
 * one-line bootstrap loads the worker through tsx's API instead.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

export function startModuleWorker(module: URL, workerData?: unknown): Worker {
  const options = workerData === undefined ? {} : { workerData };
  const js = fileURLToPath(`${module.href}.js`);
  if (existsSync(js)) return new Worker(js, options);
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href;
  const file = fileURLToPath(`${module.href}.ts`);
  return new Worker(`import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(file)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, ...options });
}
