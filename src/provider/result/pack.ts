import { blake2b256Hex } from "../../crypto/sodium.js";
import type { RunOutputs } from "../types.js";
import { parseTar, writeDeterministicTar, type TarEntry } from "./tar.js";

/**
 * Turns the archive Docker gives for the outputs folder into the canonical result: entries relative to that
 * folder (the folder itself dropped), devices/fifos dropped, then written deterministically. The same files
 * always give the same bytes and so the same `resultHash`, whatever their timestamps or owners were.
 */
export function packOutputs(dockerArchive: Uint8Array, folderName: string): RunOutputs {
  const prefix = `${folderName.replace(/^\/+|\/+$/g, "")}/`;
  const entries: TarEntry[] = [];
  for (const entry of parseTar(dockerArchive)) {
    const path = entry.path.replace(/^\.\//, "");
    if (!path.startsWith(prefix)) continue;
    const relative = path.slice(prefix.length).replace(/\/+$/, "");
    if (relative === "" || entry.type === "other") continue;
    entries.push({ ...entry, path: relative });
  }
  const archive = writeDeterministicTar(entries);
  const files = entries.filter((e) => e.type === "file");
  return {
    archive,
    resultHash: blake2b256Hex(archive),
    files: files.length,
    bytes: files.reduce((sum, e) => sum + e.data.length, 0),
  };
}

/** The result of a run that produced nothing collectable (killed, or outputs over the cap). */
export function emptyOutputs(): RunOutputs {
  const archive = writeDeterministicTar([]);
  return { archive, resultHash: blake2b256Hex(archive), files: 0, bytes: 0 };
}
