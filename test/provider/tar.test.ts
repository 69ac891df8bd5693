import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { collectBuffer } from "../../src/provider/result/collect.js";
import { parseTar, TarParser, writeDeterministicTar, type MemoryEntry } from "../../src/provider/result/tar.js";

/**
 * The result tar by bytes, as properties over generated input (fixed seed, bounded runs): any name bytes survive
 * a round trip, chunk boundaries change nothing, and no input makes the parser or the collector throw anything
 * but RESULT_ARCHIVE_INVALID.
 */

const SEED = 10_2026;
const dir = mkdtempSync(join(tmpdir(), "ntx-tar-"));
let n = 0;

/** A path component: any bytes but NUL and '/', not "." or "..", 1..120 bytes (non-UTF-8 included). */
const component = fc
  .uint8Array({ minLength: 1, maxLength: 120 })
  .map((b) => Buffer.from(b.map((x) => (x === 0 || x === 0x2f ? 0x61 : x))))
  .filter((b) => !(b.equals(Buffer.from(".")) || b.equals(Buffer.from(".."))));

const entries = fc.uniqueArray(
  fc.record({ name: component, kind: fc.constantFrom("file", "symlink"), data: fc.uint8Array({ maxLength: 1500 }), link: component }),
  { minLength: 1, maxLength: 12, selector: (e) => e.name.toString("latin1") },
);

function toMemory(list: Array<{ name: Buffer; kind: string; data: Uint8Array; link: Buffer }>, prefix = ""): MemoryEntry[] {
  return list.map((e) => ({
    path: Buffer.concat([Buffer.from(prefix), e.name]),
    type: e.kind as "file" | "symlink",
    mode: 0o644,
    ...(e.kind === "file" ? { data: e.data } : { linkName: e.link }),
  }));
}

describe("tar by bytes", () => {
  it("keeps any name and link bytes, data and types through write and parse", () => {
    fc.assert(
      fc.property(entries, (list) => {
        const parsed = parseTar(writeDeterministicTar(toMemory(list)));
        const byName = new Map(parsed.map((e) => [e.path.toString("latin1"), e]));
        expect(parsed).toHaveLength(list.length);
        for (const e of list) {
          const got = byName.get(e.name.toString("latin1"))!;
          expect(got.type).toBe(e.kind);
          if (e.kind === "file") expect(Buffer.compare(got.data, Buffer.from(e.data))).toBe(0);
          else expect(got.linkName.equals(e.link)).toBe(true);
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("gives the same entries however the stream is cut", () => {
    fc.assert(
      fc.property(entries, fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }), (list, cuts) => {
        const archive = writeDeterministicTar(toMemory(list));
        const seen: string[] = [];
        const parser = new TarParser({
          entry: (h) => seen.push(`E${h.path.toString("hex")}:${h.type}:${h.linkName.toString("hex")}`),
          data: (c) => seen.push(`D${Buffer.from(c).toString("hex")}`),
          entryEnd: () => seen.push("|"),
        });
        let pos = 0;
        for (let i = 0; pos < archive.length; i++) {
          const size = cuts[i % cuts.length]!;
          parser.push(archive.subarray(pos, pos + size));
          pos += size;
        }
        parser.finish();
        const whole: string[] = [];
        const p2 = new TarParser({
          entry: (h) => whole.push(`E${h.path.toString("hex")}:${h.type}:${h.linkName.toString("hex")}`),
          data: (c) => whole.push(`D${Buffer.from(c).toString("hex")}`),
          entryEnd: () => whole.push("|"),
        });
        p2.push(archive);
        p2.finish();
        // Data may arrive in different pieces: compare with the pieces joined per entry.
        const join = (xs: string[]) => xs.join("").replace(/\|?D/g, (m) => (m.startsWith("|") ? "|D" : ""));
        expect(join(seen)).toBe(join(whole));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it("never throws anything but RESULT_ARCHIVE_INVALID on mangled archives", async () => {
    await fc.assert(
      fc.asyncProperty(entries, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(), async (list, flips, cut) => {
        const archive = Buffer.from(writeDeterministicTar(toMemory(list, "out/")));
        for (const [at, value] of flips) archive[at % archive.length] = value;
        const mangled = archive.subarray(0, archive.length - (cut % 1024));
        for (const attempt of [() => parseTar(mangled), () => collectBuffer(mangled, "/out", join(dir, `${n++}.tar`))]) {
          try {
            await attempt();
          } catch (error) {
            expect(isNtxError(error, "RESULT_ARCHIVE_INVALID"), String(error)).toBe(true);
          }
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("collects a Docker-style archive with its folder stripped, keeping non-UTF-8 names and links as links", async () => {
    const raw = Buffer.from([0x41, 0xff, 0xfe]); // sorts before "hard": Docker names the first path of an inode as the file
    const docker = writeDeterministicTar([
      { path: "out", type: "dir", mode: 0o755 },
      { path: Buffer.concat([Buffer.from("out/"), raw]), type: "file", mode: 0o600, data: Buffer.from("x") },
      { path: "out/hard", type: "hardlink", mode: 0o644, linkName: Buffer.concat([Buffer.from("out/"), raw]) },
      { path: "out/soft", type: "symlink", mode: 0o777, linkName: "/etc/passwd" },
    ]);
    const collected = await collectBuffer(docker, "/out", join(dir, "docker.tar"));
    const got = parseTar(readFileSync(collected.archiveFile)).map((e) => [e.path.toString("hex"), e.type, e.linkName.toString("hex")]);
    expect(got).toEqual([
      [raw.toString("hex"), "file", ""],
      [Buffer.from("hard").toString("hex"), "hardlink", raw.toString("hex")],
      [Buffer.from("soft").toString("hex"), "symlink", Buffer.from("/etc/passwd").toString("hex")],
    ]);
    expect(collected.files).toBe(1);
    expect(collected.bytes).toBe(1);
  });

  it("refuses entries out of tree order, dot-dot names and hard links to files it has not seen", async () => {
    const bad = async (build: () => Buffer) => {
      const error = await collectBuffer(build(), "/out", join(dir, `${n++}.tar`)).then(() => null, (e: unknown) => e);
      return isNtxError(error, "RESULT_ARCHIVE_INVALID");
    };
    // writeDeterministicTar sorts: build the out-of-order archive from two halves.
    const half = (path: string) => { const t = writeDeterministicTar([{ path, type: "file", mode: 0o644, data: Buffer.from("1") }]); return t.subarray(0, t.length - 1024); };
    expect(await bad(() => Buffer.concat([half("out/b"), half("out/a"), Buffer.alloc(1024)]))).toBe(true);
    expect(await bad(() => Buffer.concat([half("out/a"), half("out/a"), Buffer.alloc(1024)]))).toBe(true);
    expect(await bad(() => writeDeterministicTar([{ path: "out/../x", type: "file", mode: 0o644, data: Buffer.from("1") }]))).toBe(true);
    expect(await bad(() => writeDeterministicTar([{ path: "out/l", type: "hardlink", mode: 0o644, linkName: "out/nothing" }]))).toBe(true);
    expect(await bad(() => writeDeterministicTar([{ path: "out/l", type: "hardlink", mode: 0o644, linkName: "/etc/shadow" }]))).toBe(true);
  });
});
