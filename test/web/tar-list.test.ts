import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listTarFiles } from "../../src/web/tar-list.js";

const run = promisify(execFile);

/** The archive GNU tar (not this project) makes of `files`, in the given format. */
async function gnuTar(dir: string, files: Record<string, string>, format: "pax" | "gnu" | "ustar"): Promise<Uint8Array> {
  const root = await mkdtemp(join(dir, "t-"));
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  }
  const { stdout } = await run("tar", [`--format=${format}`, "-C", root, "-cf", "-", ...Object.keys(files)], { encoding: "buffer", maxBuffer: 16 << 20 });
  return new Uint8Array(stdout);
}

describe("listing a result archive (page and ntx job results)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ntx-tar-list-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists GNU tar's files, long names included, in pax, gnu and ustar formats", async () => {
    const long = `${"d".repeat(90)}/${"n".repeat(120)}.txt`;
    for (const format of ["pax", "gnu"] as const) {
      const listing = listTarFiles(await gnuTar(dir, { "a.txt": "alpha\n", "sub/b.bin": "b".repeat(1500), [long]: "long\n" }, format));
      expect(listing.complete).toBe(true);
      expect(Object.fromEntries(listing.files.map((f) => [f.path, Buffer.from(f.data).toString()]))).toEqual({ "a.txt": "alpha\n", "sub/b.bin": "b".repeat(1500), [long]: "long\n" });
    }
    const ustar = listTarFiles(await gnuTar(dir, { "x/y.txt": "y" }, "ustar"));
    expect(ustar.files.map((f) => f.path)).toEqual(["x/y.txt"]);
  });

  it("never throws on arbitrary or truncated bytes, and says when it could not read to the end", async () => {
    const good = await gnuTar(dir, { "a.txt": "alpha\n" }, "pax");
    expect(listTarFiles(good.subarray(0, 700)).complete).toBe(false);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.nat({ max: 2048 }), (noise, cut) => {
        const mixed = new Uint8Array([...good.subarray(0, cut), ...noise]);
        const listing = listTarFiles(mixed);
        expect(Array.isArray(listing.files)).toBe(true);
      }),
      { seed: 15, numRuns: 400 },
    );
  });
});
