import { NtxError } from "../../../offchain/errors.js";

/**
 * A minimal tar reader (what `docker cp`/getArchive produces: Go's archive/tar, USTAR with PAX or GNU long-name
 * records when needed) and a deterministic tar writer. No dependency: the format is small, and the writer must be
 * byte-for-byte reproducible by anyone recomputing a `resultHash`.
 */

export type TarEntryType = "file" | "dir" | "symlink" | "other";

export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  data: Uint8Array;
  linkName: string;
}

const BLOCK = 512;
const decoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

function readString(block: Uint8Array, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return decoder.decode(end === -1 ? slice : slice.subarray(0, end));
}

function readOctal(block: Uint8Array, offset: number, length: number): number {
  const slice = block.subarray(offset, offset + length);
  // GNU base-256 encoding for large values: high bit of the first byte set.
  if (slice[0] !== undefined && (slice[0] & 0x80) !== 0) {
    let value = 0;
    for (let i = 1; i < slice.length; i++) value = value * 256 + (slice[i] ?? 0);
    return value;
  }
  const text = readString(block, offset, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function parsePax(data: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number.parseInt(decoder.decode(data.subarray(pos, space)), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = decoder.decode(data.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return records;
}

export function parseTar(buffer: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let pos = 0;
  let pending: { path?: string; linkName?: string } = {};
  while (pos + BLOCK <= buffer.length) {
    const header = buffer.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = readOctal(header, 124, 12);
    const typeFlag = String.fromCharCode(header[156] ?? 0x30);
    const dataStart = pos + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buffer.length) throw new NtxError("RESULT_ARCHIVE_INVALID", "truncated tar archive");
    const data = buffer.subarray(dataStart, dataEnd);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (typeFlag === "x") {
      const pax = parsePax(data);
      pending = { ...pending, ...(pax.path ? { path: pax.path } : {}), ...(pax.linkpath ? { linkName: pax.linkpath } : {}) };
      continue;
    }
    if (typeFlag === "g") continue;
    if (typeFlag === "L") { pending.path = readString(data, 0, data.length); continue; }
    if (typeFlag === "K") { pending.linkName = readString(data, 0, data.length); continue; }

    const magic = readString(header, 257, 6);
    const prefix = magic.startsWith("ustar") ? readString(header, 345, 155) : "";
    const name = readString(header, 0, 100);
    const path = pending.path ?? (prefix ? `${prefix}/${name}` : name);
    const linkName = pending.linkName ?? readString(header, 157, 100);
    pending = {};
    if (typeFlag === "1") {
      // A hard link: Docker stores the second name of a file as a link to the first; keep it as a plain copy.
      const target = entries.find((e) => e.path === linkName && e.type === "file");
      if (target) entries.push({ path, type: "file", mode: target.mode, data: target.data, linkName: "" });
      continue;
    }
    const type: TarEntryType =
      typeFlag === "0" || typeFlag === "\0" || typeFlag === "7" ? "file" : typeFlag === "5" ? "dir" : typeFlag === "2" ? "symlink" : "other";
    entries.push({ path, type, mode: readOctal(header, 100, 8), data: type === "file" ? data : new Uint8Array(0), linkName });
  }
  return entries;
}

function writeField(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new NtxError("RESULT_ARCHIVE_INVALID", `tar field too long: ${value}`);
  block.set(bytes, offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0");
}

function header(path: string, typeFlag: string, mode: number, size: number, linkName: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeField(block, 0, 100, path);
  writeField(block, 100, 8, octal(mode, 8));
  writeField(block, 108, 8, octal(0, 8));
  writeField(block, 116, 8, octal(0, 8));
  writeField(block, 124, 12, octal(size, 12));
  writeField(block, 136, 12, octal(0, 12));
  block.fill(0x20, 148, 156);
  writeField(block, 156, 1, typeFlag);
  writeField(block, 157, 100, linkName);
  writeField(block, 257, 6, "ustar");
  writeField(block, 263, 2, "00");
  let sum = 0;
  for (const b of block) sum += b;
  writeField(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

function paxRecord(key: string, value: string): Uint8Array {
  // The length prefix counts itself, so find the fixed point.
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length + bodyLength !== length) length = String(length + 1).length + bodyLength;
  return encoder.encode(`${length}${body}`);
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(data);
  return out;
}

/**
 * Writes entries as a reproducible tar: sorted by path (bytewise), mtime 0, owner 0:0, no user/group names,
 * modes normalised to 0755 (dirs, executables) or 0644. Long paths go in a PAX record, never in a
 * time- or host-dependent form.
 */
export function writeDeterministicTar(entries: readonly TarEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const chunks: Uint8Array[] = [];
  for (const entry of sorted) {
    if (entry.type === "other") continue;
    const path = entry.type === "dir" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
    const mode = entry.type === "dir" || (entry.mode & 0o111) !== 0 ? 0o755 : 0o644;
    const typeFlag = entry.type === "file" ? "0" : entry.type === "dir" ? "5" : "2";
    const size = entry.type === "file" ? entry.data.length : 0;
    const needsPax = encoder.encode(path).length > 100 || encoder.encode(entry.linkName).length > 100;
    if (needsPax) {
      const records = [paxRecord("path", path), ...(entry.linkName ? [paxRecord("linkpath", entry.linkName)] : [])];
      const pax = Buffer.concat(records);
      chunks.push(header("PaxHeader", "x", 0o644, pax.length, ""), padded(pax));
    }
    chunks.push(header(needsPax ? path.slice(0, 100) : path, typeFlag, mode, size, needsPax ? "" : entry.linkName));
    if (size > 0) chunks.push(padded(entry.data));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(chunks);
}
