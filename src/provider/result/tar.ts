import { NtxError } from "../../../offchain/errors.js";

/**
 * Tar, by bytes. A push parser for what `docker cp`/getArchive produces (Go's archive/tar: USTAR, PAX or GNU
 * long-name records) and a deterministic header writer. Written here rather than taken from tar-stream: its PAX
 * reader decodes `path`/`linkpath` as UTF-8 (a name that is not valid UTF-8 comes out changed), and a result's
 * names must survive byte for byte. The parser is push-based (chunks in, events out, synchronously) so the same
 * code reads a whole buffer or a stream, holding at most one header's records at a time.
 */

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "other";

export interface TarHeader {
  /** The name as stored (PAX/GNU long names applied), raw bytes. */
  path: Buffer;
  type: TarEntryType;
  mode: number;
  /** Bytes of data that follow (files only; 0 for links and dirs). */
  size: number;
  /** Target of a symlink or hard link, raw bytes (empty otherwise). */
  linkName: Buffer;
}

export interface TarParserEvents {
  entry(header: TarHeader): void;
  data(chunk: Uint8Array): void;
  entryEnd(): void;
}

const BLOCK = 512;
/** PAX and GNU long-name records are names: Linux caps a path at 4096 bytes. Anything bigger is hostile. */
const MAX_RECORD_BYTES = 64 * 1024;

/** The one error of a malformed result: final, since a rerun would give the same bytes. */
export function invalid(message: string): NtxError {
  return new NtxError("RESULT_ARCHIVE_INVALID", `result archive: ${message}`, { retryable: false });
}

function field(block: Uint8Array, offset: number, length: number): Buffer {
  const slice = Buffer.from(block.buffer, block.byteOffset + offset, length);
  const end = slice.indexOf(0);
  return Buffer.from(end === -1 ? slice : slice.subarray(0, end));
}

function readNumber(block: Uint8Array, offset: number, length: number): number {
  const first = block[offset] ?? 0;
  // GNU base-256 for large values: high bit of the first byte set.
  if ((first & 0x80) !== 0) {
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] ?? 0);
    if (!Number.isSafeInteger(value)) throw invalid("numeric field out of range");
    return value;
  }
  const text = field(block, offset, length).toString("latin1").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(`bad octal field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const stored = readNumber(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === stored;
}

/** PAX records `<len> <key>=<value>\n`, values kept as bytes. */
function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw invalid("malformed PAX record");
    const lengthText = data.subarray(pos, space).toString("latin1");
    if (!/^[0-9]{1,6}$/.test(lengthText)) throw invalid("malformed PAX record length");
    const length = Number(lengthText);
    const end = pos + length;
    if (length <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) throw invalid("malformed PAX record");
    const record = data.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw invalid("malformed PAX record");
    records.set(record.subarray(0, eq).toString("latin1"), Buffer.from(record.subarray(eq + 1)));
    pos = end;
  }
  return records;
}

const TYPES: Record<string, TarEntryType> = { "0": "file", "\0": "file", "7": "file", "1": "hardlink", "2": "symlink", "5": "dir", "3": "other", "4": "other", "6": "other" };

type Phase = { kind: "header" } | { kind: "data"; left: number; pad: number; into?: Buffer[] } | { kind: "pad"; left: number } | { kind: "end" };

export class TarParser {
  private phase: Phase = { kind: "header" };
  private headerBuf = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private recordKind: string | undefined;
  private recordBytes = 0;
  private pending: { path?: Buffer; linkName?: Buffer; size?: number } = {};
  private zeroBlocks = 0;

  constructor(private readonly on: TarParserEvents) {}

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.phase.kind === "end";
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length && this.phase.kind !== "end") {
      const phase = this.phase;
      if (phase.kind === "header") {
        const take = Math.min(BLOCK - this.headerFill, chunk.length - pos);
        this.headerBuf.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader(this.headerBuf);
        }
      } else if (phase.kind === "data") {
        const take = Math.min(phase.left, chunk.length - pos);
        const piece = chunk.subarray(pos, pos + take);
        if (phase.into) phase.into.push(Buffer.from(piece));
        else this.on.data(piece);
        phase.left -= take;
        pos += take;
        if (phase.left === 0) this.endData(phase);
      } else if (phase.kind === "pad") {
        const take = Math.min(phase.left, chunk.length - pos);
        phase.left -= take;
        pos += take;
        if (phase.left === 0) this.phase = { kind: "header" };
      }
    }
  }

  /** The stream ended: anything but a complete archive is an error. */
  finish(): void {
    if (this.phase.kind === "end") return;
    // Some writers stop after one zero block, or with none at all; a half-read header or entry is truncation.
    if (this.phase.kind === "header" && this.headerFill === 0 && this.recordKind === undefined) {
      this.phase = { kind: "end" };
      return;
    }
    throw invalid("truncated archive");
  }

  private onHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks === 2) this.phase = { kind: "end" };
      return;
    }
    if (this.zeroBlocks > 0) throw invalid("data after an end-of-archive block");
    if (!checksumOk(block)) throw invalid("header checksum mismatch");
    const flag = String.fromCharCode(block[156] ?? 0);
    let size = readNumber(block, 124, 12);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_RECORD_BYTES) throw invalid(`a ${flag} record of ${size} bytes`);
      this.recordBytes += size;
      if (this.recordBytes > MAX_RECORD_BYTES) throw invalid("too many extended header records for one entry");
      this.recordKind = flag;
      this.startData(size, []);
      return;
    }
    if (this.pending.size !== undefined) size = this.pending.size;
    const magic = field(block, 257, 6).toString("latin1");
    const name = field(block, 0, 100);
    const prefix = magic.startsWith("ustar") ? field(block, 345, 155) : Buffer.alloc(0);
    const path = this.pending.path ?? (prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), name]) : name);
    const type = TYPES[flag];
    if (type === undefined) throw invalid(`unsupported entry type ${JSON.stringify(flag)}`);
    const header: TarHeader = {
      path,
      type,
      mode: readNumber(block, 100, 8),
      size: type === "file" ? size : 0,
      linkName: this.pending.linkName ?? field(block, 157, 100),
    };
    this.pending = {};
    this.recordKind = undefined;
    this.recordBytes = 0;
    this.on.entry(header);
    // Data of non-files (a hard link may carry some in odd writers) is skipped, never handed out.
    if (type === "file") this.startData(size);
    else {
      this.on.entryEnd();
      this.skip(size);
    }
  }

  private startData(size: number, into?: Buffer[]): void {
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.phase = { kind: "data", left: size, pad, ...(into ? { into } : {}) };
    if (size === 0) this.endData(this.phase);
  }

  private skip(size: number): void {
    const total = Math.ceil(size / BLOCK) * BLOCK;
    this.phase = total === 0 ? { kind: "header" } : { kind: "pad", left: total };
  }

  private endData(phase: Extract<Phase, { kind: "data" }>): void {
    if (phase.into) {
      const data = Buffer.concat(phase.into);
      const kind = this.recordKind;
      if (kind === "x") {
        const pax = parsePax(data);
        const path = pax.get("path");
        const linkName = pax.get("linkpath");
        const size = pax.get("size");
        if (path) this.pending.path = path;
        if (linkName) this.pending.linkName = linkName;
        if (size) {
          const text = size.toString("latin1");
          if (!/^[0-9]{1,15}$/.test(text)) throw invalid("bad PAX size");
          this.pending.size = Number(text);
        }
      } else if (kind === "L") this.pending.path = field(data, 0, data.length);
      else if (kind === "K") this.pending.linkName = field(data, 0, data.length);
      // "g" (global) records only carry times and owners here: dropped.
    } else {
      this.on.entryEnd();
    }
    this.phase = phase.pad === 0 ? { kind: "header" } : { kind: "pad", left: phase.pad };
  }
}

/* ---- writer ---- */

function putText(block: Buffer, offset: number, text: string): void {
  block.write(text, offset, "latin1");
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0");
}

function ustarHeader(name: Buffer, typeFlag: string, mode: number, size: number, linkName: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  name.copy(block, 0, 0, Math.min(100, name.length));
  putText(block, 100, octal(mode, 8));
  putText(block, 108, octal(0, 8));
  putText(block, 116, octal(0, 8));
  putText(block, 124, octal(size, 12));
  putText(block, 136, octal(0, 12));
  block.fill(0x20, 148, 156);
  putText(block, 156, typeFlag);
  linkName.copy(block, 157, 0, Math.min(100, linkName.length));
  putText(block, 257, "ustar\u000000");
  let sum = 0;
  for (const b of block) sum += b;
  putText(block, 148, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

function paxRecord(key: string, value: Buffer): Buffer {
  // The length prefix counts its own digits: find the fixed point.
  const bodyLength = 1 + key.length + 1 + value.length + 1;
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length + bodyLength !== length) length = String(length + 1).length + bodyLength;
  return Buffer.concat([Buffer.from(`${length} ${key}=`, "latin1"), value, Buffer.from("\n")]);
}

export function paddingFor(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK);

export interface CanonicalEntry {
  path: Buffer;
  type: Exclude<TarEntryType, "other">;
  /** Any mode: normalised to 0755 (dirs, executables) or 0644. */
  mode: number;
  size: number;
  linkName: Buffer;
}

/**
 * The header block(s) of one canonical entry: mtime 0, owner 0:0, no user/group names, modes normalised. A name
 * or link target longer than the 100-byte USTAR field goes whole, as bytes, in a PAX record; the USTAR field then
 * holds its first 100 bytes (a fixed function of the name, so the archive stays reproducible).
 */
export function canonicalHeader(entry: CanonicalEntry): Buffer {
  const path = entry.type === "dir" && entry.path[entry.path.length - 1] !== 0x2f ? Buffer.concat([entry.path, Buffer.from("/")]) : entry.path;
  const mode = entry.type === "dir" || (entry.mode & 0o111) !== 0 ? 0o755 : 0o644;
  const typeFlag = { file: "0", hardlink: "1", symlink: "2", dir: "5" }[entry.type];
  const size = entry.type === "file" ? entry.size : 0;
  const records: Buffer[] = [];
  if (path.length > 100) records.push(paxRecord("path", path));
  if (entry.linkName.length > 100) records.push(paxRecord("linkpath", entry.linkName));
  const main = ustarHeader(path, typeFlag, mode, size, entry.linkName);
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  return Buffer.concat([ustarHeader(Buffer.from("PaxHeader"), "x", 0o644, pax.length, Buffer.alloc(0)), pax, paddingFor(pax.length), main]);
}

/**
 * Canonical order of a result: depth first, the names of a folder in byte order. It is the order Docker's
 * archive walks a folder in (Go's filepath.Walk), so a stream can be checked against it one entry at a time,
 * and it equals comparing paths with `/` below every other byte.
 */
export function compareTreeOrder(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] === 0x2f ? -1 : (a[i] as number);
    const y = b[i] === 0x2f ? -1 : (b[i] as number);
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

export interface MemoryEntry {
  path: string | Uint8Array;
  type: Exclude<TarEntryType, "other">;
  mode: number;
  data?: Uint8Array;
  linkName?: string | Uint8Array;
}

const bytesOf = (v: string | Uint8Array | undefined): Buffer => (v === undefined ? Buffer.alloc(0) : typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v));

/** A small canonical archive built in memory (fake runners, tests); results of real jobs are streamed (collect.ts). */
export function writeDeterministicTar(entries: readonly MemoryEntry[]): Buffer {
  const sorted = entries.map((e) => ({ ...e, pathBytes: bytesOf(e.path).subarray(0) })).sort((a, b) => compareTreeOrder(a.pathBytes, b.pathBytes));
  const chunks: Buffer[] = [];
  for (const e of sorted) {
    const data = e.type === "file" ? bytesOf(e.data) : Buffer.alloc(0);
    chunks.push(canonicalHeader({ path: e.pathBytes, type: e.type, mode: e.mode, size: data.length, linkName: bytesOf(e.linkName) }));
    if (data.length > 0) chunks.push(data, paddingFor(data.length));
  }
  chunks.push(Buffer.from(END_OF_ARCHIVE));
  return Buffer.concat(chunks);
}

export interface ParsedEntry extends TarHeader {
  data: Buffer;
}

/** Every entry of an archive held in memory, with its data (tests, small archives). */
export function parseTar(archive: Uint8Array): ParsedEntry[] {
  const entries: ParsedEntry[] = [];
  let parts: Buffer[] = [];
  const parser = new TarParser({
    entry: (header) => { entries.push({ ...header, data: Buffer.alloc(0) }); parts = []; },
    data: (chunk) => parts.push(Buffer.from(chunk)),
    entryEnd: () => { const last = entries[entries.length - 1]; if (last) last.data = Buffer.concat(parts); },
  });
  parser.push(archive);
  parser.finish();
  return entries;
}
