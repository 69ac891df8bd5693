/**
 * Figures of the fault and load runs: printed, kept as JSON in reports/, and written into docs/RELIABILITY.md
 * between the markers of their section (`npm run test:faults` / `npm run test:load` ask for that with
 * NTX_RELIABILITY_WRITE=1; a plain `npm test` leaves the document alone). Sections this code does not own (the
 * NATS cluster's) are never touched.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOC = join(ROOT, "docs", "RELIABILITY.md");

export function machine(): string {
  const load = (() => {
    try {
      return execFileSync("uptime", { encoding: "utf8" }).trim();
    } catch {
      return "uptime unavailable";
    }
  })();
  return `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; \`uptime\`: ${load}`;
}

export async function saveReport(name: string, data: unknown): Promise<void> {
  await mkdir(join(ROOT, "reports"), { recursive: true });
  await writeFile(join(ROOT, "reports", `${name}.json`), JSON.stringify(data, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
}

/** Replaces the text between `<!-- key -->` and `<!-- /key -->` in docs/RELIABILITY.md (when asked to). */
export async function writeSection(key: string, markdown: string): Promise<boolean> {
  if (process.env.NTX_RELIABILITY_WRITE !== "1") return false;
  if (!existsSync(DOC)) return false;
  const doc = await readFile(DOC, "utf8");
  const open = `<!-- ${key} -->`;
  const close = `<!-- /${key} -->`;
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a < 0 || b < a) return false;
  await writeFile(DOC, `${doc.slice(0, a + open.length)}\n${markdown.trim()}\n${doc.slice(b)}`);
  return true;
}

export const seconds = (ms: number | null | undefined) => (ms === null || ms === undefined ? "none seen" : `${(ms / 1000).toFixed(1)} s`);
