/**
 * Lists the regular files of a result archive (USTAR, with PAX or GNU long names) from its bytes: what the page
 * and `ntx job results` need once the archive's hash has been checked. Plain Uint8Array code, so it runs in the
 * browser too (the provider's streaming parser is Node-only). Never throws: a malformed archive lists what it
 * could read and says so.
 */
export interface ListedFile {
  path: string;
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder("utf-8", { fatal: false });

function text(block: Uint8Array, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return decoder.decode(end === -1 ? slice : slice.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const digits = text(block, offset, length).trim();
  return /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : -1;
}

/** PAX records "len key=value\n": only `path` matters for a listing. */
function paxPath(data: Uint8Array): string | undefined {
  let pos = 0;
  let path: string | undefined;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number(decoder.decode(data.subarray(pos, space)));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length) break;
    const record = decoder.decode(data.subarray(space + 1, pos + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0 && record.slice(0, eq) === "path") path = record.slice(eq + 1);
    pos += length;
  }
  return path;
}

export function listTarFiles(archive: Uint8Array): { files: ListedFile[]; complete: boolean } {
  const files: ListedFile[] = [];
  let pos = 0;
  let longName: string | undefined;
  while (pos + BLOCK <= archive.length) {
    const header = archive.subarray(pos, pos + BLOCK);
    if (header.every((b) => b === 0)) return { files, complete: true };
    const size = octal(header, 124, 12);
    if (size < 0 || pos + BLOCK + size > archive.length) return { files, complete: false };
    const data = archive.subarray(pos + BLOCK, pos + BLOCK + size);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = text(header, 257, 6).startsWith("ustar") ? text(header, 345, 155) : "";
    const name = text(header, 0, 100);
    if (type === "x") longName = paxPath(data) ?? longName;
    else if (type === "L") longName = text(data, 0, data.length);
    else {
      const path = longName ?? (prefix ? `${prefix}/${name}` : name);
      longName = undefined;
      if (type === "0" || type === "\0") files.push({ path, data });
    }
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return { files, complete: false };
}
