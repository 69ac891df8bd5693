import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { loadProviderConfig } from "../../src/provider/config.js";
import { detectResources, gpuModelToken } from "../../src/provider/detect.js";
import { generateProofKeyFile, loadPaymentKey, loadProofKey } from "../../src/provider/keys.js";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "ntx-provider-cfg-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(() => "ok", (e: unknown) => (isNtxError(e) ? e.code : String(e)));
}

const validConfig = {
  regions: ["eu-west"],
  attributes: { tier: "home" },
  prices: { cpuCoreHour: "1000000", memoryGiBHour: 250000, diskGiBHour: "0", gpuHour: "0" },
  images: ["ntx-test/busybox:*"],
  keys: { proofKeyFile: "/k/proof", paymentKeyFile: "/k/pay" },
  limits: { maxCpuCores: 2, maxMemoryMiB: 2048 },
};

describe("provider config", () => {
  it("loads a file, turns prices into bigint, fills defaults and applies env overrides", async () => {
    const file = join(dir, "provider.json");
    await writeFile(file, JSON.stringify(validConfig));
    const config = await loadProviderConfig({ file, env: { NTX_PROVIDER_REGIONS: "a,b", NTX_PROVIDER_PROOF_KEY_FILE: "/other" } });
    expect(config.prices.cpuCoreHour).toBe(1_000_000n);
    expect(config.prices.memoryGiBHour).toBe(250_000n);
    expect(config.regions).toEqual(["a", "b"]);
    expect(config.keys.proofKeyFile).toBe("/other");
    expect(config.limits.maxPids).toBe(512);
    // No lease section: this provider takes no service jobs.
    expect(config.lease).toBeUndefined();
  });

  it("takes service jobs only with a lease section: the script inline, or a reference script; schedule defaults", async () => {
    const file = join(dir, "lease.json");
    await writeFile(file, JSON.stringify({ ...validConfig, lease: {} }));
    const inline = await loadProviderConfig({ file, env: {} });
    expect(inline.lease).toEqual({ claimIntervalMs: 86_400_000, minClaim: 10n ** 12n, stopMarginMs: 600_000, tickMs: 30_000 });
    await writeFile(file, JSON.stringify({ ...validConfig, lease: { referenceScript: `${"ab".repeat(32)}#0`, minClaim: "5" } }));
    expect((await loadProviderConfig({ file, env: {} })).lease).toMatchObject({ referenceScript: `${"ab".repeat(32)}#0`, minClaim: 5n });
    await writeFile(file, JSON.stringify({ ...validConfig, lease: { referenceScript: "nope" } }));
    expect(await code(loadProviderConfig({ file, env: {} }))).toBe("PROVIDER_CONFIG_INVALID");
    await writeFile(file, JSON.stringify({ ...validConfig, lease: { tickMs: 1 } }));
    expect(await code(loadProviderConfig({ file, env: {} }))).toBe("PROVIDER_CONFIG_INVALID");
  });

  it("refuses bad input with stable codes", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ ...validConfig, prices: { ...validConfig.prices, cpuCoreHour: "-1" } }));
    expect(await code(loadProviderConfig({ file, env: {} }))).toBe("PROVIDER_CONFIG_INVALID");
    await writeFile(file, "{not json");
    expect(await code(loadProviderConfig({ file, env: {} }))).toBe("PROVIDER_CONFIG_INVALID");
    expect(await code(loadProviderConfig({ env: {} }))).toBe("PROVIDER_CONFIG_MISSING");
  });
});

describe("key files", () => {
  it("creates a 0600 proof key and loads it back, with its compressed public key as provider id", async () => {
    const path = join(dir, "proof.key");
    const created = await generateProofKeyFile(path);
    const loaded = await loadProofKey(path);
    expect(loaded.providerId).toBe(created.providerId);
    expect(loaded.providerId).toMatch(/^0[23][0-9a-f]{64}$/);
    expect(await code(generateProofKeyFile(path))).toBe("KEY_FILE_EXISTS");
  });

  it("refuses keys readable by group or others, and missing or malformed keys", async () => {
    const path = join(dir, "open.key");
    await writeFile(path, "11".repeat(32), { mode: 0o644 });
    await chmod(path, 0o644);
    expect(await code(loadProofKey(path))).toBe("KEY_FILE_INSECURE");
    await chmod(path, 0o640);
    expect(await code(loadProofKey(path))).toBe("KEY_FILE_INSECURE");
    await chmod(path, 0o600);
    expect(await code(loadProofKey(path))).toBe("ok");
    expect(await code(loadPaymentKey(path))).toBe("KEY_INVALID");
    expect(await code(loadProofKey(join(dir, "nope")))).toBe("KEY_FILE_MISSING");
  });
});

describe("detection", () => {
  it("reports this machine's cores, memory, free disk and (no) GPUs", async () => {
    const r = await detectResources({ diskPath: dir });
    expect(r.cpuCores).toBeGreaterThanOrEqual(1);
    expect(r.memoryMiB).toBeGreaterThan(256);
    expect(r.diskFreeGiB).toBeGreaterThanOrEqual(0);
    expect(Array.isArray(r.gpus)).toBe(true);
    for (const g of r.gpus) expect(typeof g.model).toBe("string");
    expect(await code(detectResources({ diskPath: join(dir, "missing") }))).toBe("DETECT_FAILED");
  });
  it("turns GPU models into market tokens", () => {
    expect(gpuModelToken("NVIDIA GeForce RTX 4090")).toBe("nvidia-geforce-rtx-4090");
    expect(gpuModelToken("")).toBe("unknown");
  });
});
