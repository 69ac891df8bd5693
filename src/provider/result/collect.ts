import { open, rename, rm } from "node:fs/promises";
import { Blake2b256Stream } from "../../crypto/sodium.js";
import type { RunOutputs } from "../types.js";
import { canonicalHeader, compareTreeOrder, END_OF_ARCHIVE, invalid, paddingFor, TarParser, writeDeterministicTar, type TarHeader } from "./tar.js";

/**
 * Turns the tar Docker streams for the outputs folder into the canonical result archive, on disk, while it
 * arrives: entries made relative to the folder (the folder itself dropped), devices and fifos dropped, hard links
 * and symlinks kept as links, names kept as bytes, times/owners/modes normalised. Each source chunk is parsed,
 * hashed and written before the next one is read, so memory stays at a chunk plus one header whatever the size
 * of the output or the number of its entries; limits are counted as the stream goes and end it early.
 */

export interface CollectLimits {
  /** File data bytes (the sum of file sizes; hard links add none). */
  maxDataBytes: number;
  /** Bytes of the canonical archive, headers included (500,000 hard links are 244 MiB of headers and no data). */
  maxArchiveBytes: number;
  maxEntries: number;
}

export interface Collected extends RunOutputs {
  tooLarge: boolean;
  /** Which limit ended the collection, when one did. */
  overLimit?: string;
}

/** Where the canonical archive goes: one sequential writer, awaited chunk by chunk (that is the backpressure). */
interface ArchiveFile {
  write(pieces: readonly Uint8Array[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

async function openArchiveFile(path: string): Promise<ArchiveFile> {
  const partial = `${path}.partial`;
  const handle = await open(partial, "w", 0o600);
  let closed = false;
  const close = async () => {
    if (!closed) { closed = true; await handle.close(); }
  };
  return {
    async write(pieces) {
      let rest = [...pieces];
      while (rest.length > 0) {
        let { bytesWritten } = await handle.writev(rest);
        // A short write: drop what went out and go on with the remainder.
        while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
        if (rest.length > 0 && bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
      }
    },
    async commit() {
      await close();
      await rename(partial, path);
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(partial, { force: true });
    },
  };
}

/**
 * Pieces (headers, slices of the source's chunks) are queued and written with one writev per ~1 MiB: few system
 * calls, and memory held at about that plus one source chunk.
 */
const FLUSH_BYTES = 1024 * 1024;

const MAX_REMEMBERED_FILES = 65_536;


function relativeTo(prefix: Buffer, path: Buffer): Buffer | null {
  let p = path;
  if (p.length >= 2 && p[0] === 0x2e && p[1] === 0x2f) p = p.subarray(2);
  while (p.length > 0 && p[p.length - 1] === 0x2f) p = p.subarray(0, p.length - 1);
  if (p.length <= prefix.length || !p.subarray(0, prefix.length).equals(prefix)) return null;
  return p.subarray(prefix.length);
}

function checkPath(path: Buffer): void {
  for (const part of path.toString("latin1").split("/")) {
    if (part === "" || part === "." || part === "..") throw invalid(`entry name ${JSON.stringify(path.toString("utf8"))} is not a plain relative path`);
  }
}

/**
 * Collects a Docker archive of `folder` from `source` into `archivePath` (written as `.partial`, renamed when
 * complete). Returns the canonical archive's hash and sizes, or `tooLarge` (and an empty archive) when a limit
 * was passed; throws RESULT_ARCHIVE_INVALID (final: a rerun would give the same bytes) for a malformed archive.
 */
export async function collectOutputs(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, params: { folder: string; archivePath: string; limits: CollectLimits }): Promise<Collected> {
  const prefix = Buffer.from(`${params.folder.replace(/^\/+|\/+$/g, "")}/`);
  const { limits } = params;
  const file = await openArchiveFile(params.archivePath);
  const hash = new Blake2b256Stream();
  let queue: Uint8Array[] = [];
  let queued = 0;
  let archiveBytes = 0;
  let dataBytes = 0;
  let files = 0;
  let entries = 0;
  let overLimit: string | undefined;
  let previous: Buffer | undefined;
  let keep = false;
  let entrySize = 0;
  const fileNames = new Set<string>();

  const emit = (chunk: Uint8Array): void => {
    archiveBytes += chunk.length;
    if (archiveBytes > limits.maxArchiveBytes) overLimit ??= `archive over ${limits.maxArchiveBytes} bytes`;
    queue.push(chunk);
    queued += chunk.length;
  };
  const flush = async (): Promise<void> => {
    const pieces = queue;
    queue = [];
    queued = 0;
    for (const piece of pieces) hash.update(piece);
    await file.write(pieces);
  };

  const onEntry = (header: TarHeader): void => {
    keep = false;
    if (header.type === "other") return;
    const path = relativeTo(prefix, header.path);
    if (path === null) return;
    checkPath(path);
    if (previous !== undefined && compareTreeOrder(previous, path) >= 0) {
      throw invalid(`entries out of order: ${JSON.stringify(path.toString("utf8"))} after ${JSON.stringify(previous.toString("utf8"))}`);
    }
    previous = Buffer.from(path);
    entries += 1;
    if (entries > limits.maxEntries) { overLimit ??= `more than ${limits.maxEntries} entries`; return; }
    let linkName = header.linkName;
    if (header.type === "hardlink") {
      // Docker names the first path of an inode as a file and every later one as a link to it: keep the link.
      const target = relativeTo(prefix, linkName);
      if (target === null || !fileNames.has(target.toString("latin1"))) throw invalid(`hard link ${JSON.stringify(path.toString("utf8"))} to a file not in the archive`);
      linkName = target;
    }
    if (header.type === "file") {
      files += 1;
      dataBytes += header.size;
      if (dataBytes > limits.maxDataBytes) { overLimit ??= `file data over ${limits.maxDataBytes} bytes`; return; }
      // Only names of real files are remembered (hard links never add one): the outputs tmpfs caps its inodes far
      // below this, which only bounds the set against other archive sources.
      if (fileNames.size >= MAX_REMEMBERED_FILES) { overLimit ??= `more than ${MAX_REMEMBERED_FILES} files`; return; }
      fileNames.add(path.toString("latin1"));
    }
    emit(canonicalHeader({ path, type: header.type, mode: header.mode, size: header.size, linkName: header.type === "dir" ? Buffer.alloc(0) : linkName }));
    keep = header.type === "file";
    entrySize = header.size;
  };
  const parser = new TarParser({
    entry: onEntry,
    data: (chunk) => { if (keep) emit(chunk); },
    entryEnd: () => {
      if (keep && entrySize % 512 !== 0) emit(paddingFor(entrySize));
      keep = false;
    },
  });

  try {
    for await (const chunk of source) {
      parser.push(chunk);
      if (overLimit !== undefined) break;
      if (queued >= FLUSH_BYTES) await flush();
      if (parser.ended) break;
    }
    if (overLimit === undefined) {
      parser.finish();
      emit(END_OF_ARCHIVE);
      await flush();
      await file.commit();
      return { archiveFile: params.archivePath, archiveBytes, resultHash: hash.hex(), files, bytes: dataBytes, tooLarge: false };
    }
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.abort();
  const empty = await writeEmptyOutputs(params.archivePath);
  return { ...empty, tooLarge: true, overLimit };
}

const EMPTY = writeDeterministicTar([]);

/** The result of a run that produced nothing collectable (killed, outputs over the cap), written to `archivePath`. */
export async function writeEmptyOutputs(archivePath: string): Promise<RunOutputs> {
  const file = await openArchiveFile(archivePath);
  await file.write([EMPTY]);
  await file.commit();
  const hash = new Blake2b256Stream();
  hash.update(EMPTY);
  return { archiveFile: archivePath, archiveBytes: EMPTY.length, resultHash: hash.hex(), files: 0, bytes: 0 };
}

/** Canonical archive of an in-memory Docker archive (tests, the fake runner): the same code path as a stream. */
export async function collectBuffer(dockerArchive: Uint8Array, folder: string, archivePath: string): Promise<Collected> {
  return collectOutputs([dockerArchive], { folder, archivePath, limits: { maxDataBytes: Number.MAX_SAFE_INTEGER, maxArchiveBytes: Number.MAX_SAFE_INTEGER, maxEntries: Number.MAX_SAFE_INTEGER } });
}
