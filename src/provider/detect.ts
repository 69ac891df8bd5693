import { statfs } from "node:fs/promises";
import si from "systeminformation";
import { NtxError } from "../../offchain/errors.js";

export interface DetectedGpu {
  vendor: string;
  model: string;
  /** null when the driver does not say. */
  vramMiB: number | null;
  /** Only NVIDIA GPUs can be handed to a container (Docker device requests with the nvidia driver). */
  usable: boolean;
}

export interface DetectedResources {
  cpuCores: number;
  memoryMiB: number;
  /** Free space where job data lands (the Docker data root), for non-root use. */
  diskFreeGiB: number;
  diskPath: string;
  gpus: DetectedGpu[];
}

/** What the machine has. Offers are this, capped by the provider's configured limits (see offer-resources). */
export async function detectResources(params: { diskPath: string }): Promise<DetectedResources> {
  let cpu: si.Systeminformation.CpuData;
  let mem: si.Systeminformation.MemData;
  let graphics: si.Systeminformation.GraphicsData;
  try {
    [cpu, mem, graphics] = await Promise.all([si.cpu(), si.mem(), si.graphics()]);
  } catch (error) {
    throw new NtxError("DETECT_FAILED", `hardware detection failed: ${String(error)}`, { cause: error });
  }
  let diskFreeGiB: number;
  try {
    const fs = await statfs(params.diskPath);
    diskFreeGiB = Math.floor((fs.bavail * fs.bsize) / 2 ** 30);
  } catch (error) {
    throw new NtxError("DETECT_FAILED", `cannot read free space of ${params.diskPath}: ${String(error)}`, { cause: error });
  }
  const gpus = (graphics.controllers ?? []).map((c): DetectedGpu => {
    const vendor = c.vendor || "unknown";
    const vram = c.memoryTotal ?? c.vram;
    return { vendor, model: c.model || c.name || "unknown", vramMiB: typeof vram === "number" && vram > 0 ? vram : null, usable: /nvidia/i.test(vendor) };
  });
  return { cpuCores: cpu.cores, memoryMiB: Math.floor(mem.total / 2 ** 20), diskFreeGiB, diskPath: params.diskPath, gpus };
}

/** A GPU model as the market's lowercase token (`NVIDIA GeForce RTX 4090` → `nvidia-geforce-rtx-4090`). */
export function gpuModelToken(model: string): string {
  const token = model.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  return token === "" ? "unknown" : token;
}
