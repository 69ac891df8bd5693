import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Every regular file under `dir` whose bytes contain `needle` (walks the tree itself: grep chokes on NULs in patterns). */
export async function filesHolding(dir: string, needle: Uint8Array): Promise<string[]> {
  const found: string[] = [];
  const wanted = Buffer.from(needle);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    // A running service's files come and go (a node's temp files): one gone since the listing holds nothing.
    const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => { if (e.code === "ENOENT") return Buffer.alloc(0); throw e; });
    if (bytes.includes(wanted)) found.push(path);
  }
  return found;
}
