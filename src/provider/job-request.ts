import { NtxError } from "../../offchain/errors.js";
import type { JobSpec } from "../market/index.js";
import type { ProviderLimits } from "./config.js";
import { OUTPUT_DIR } from "./docker/container-spec.js";
import type { RunRequest } from "./types.js";

const MiB = 1024 * 1024;
/** A job that asks for no disk still gets a little: 64 MiB for /work and the rest, 64 MiB for /out. */
const MIN_WORK_DIR = 128 * MiB;

/**
 * What the runner is asked to do for a market job spec, within the provider's limits. Refuses (rather than
 * silently shrinks) anything the provider would not give: the buyer pays for what the spec says.
 */
export function runRequestFromSpec(params: { spec: JobSpec; jobHash: string; escrowRef?: string; limits: ProviderLimits; gpuIndices?: readonly number[] }): RunRequest {
  const { spec, limits } = params;
  if (spec.network !== "none") throw new NtxError("JOB_NETWORK_UNSUPPORTED", "this provider runs jobs without network only");
  for (const path of spec.outputs) {
    if (path !== OUTPUT_DIR && !path.startsWith(`${OUTPUT_DIR}/`)) {
      throw new NtxError("JOB_OUTPUTS_UNSUPPORTED", `outputs are collected from ${OUTPUT_DIR}; ${path} is outside it`);
    }
  }
  const gpus = spec.resources.gpu?.count ?? 0;
  const over: string[] = [];
  if (spec.resources.cpuCores > limits.maxCpuCores) over.push(`cpu ${spec.resources.cpuCores} > ${limits.maxCpuCores}`);
  if (spec.resources.memoryMiB > limits.maxMemoryMiB) over.push(`memory ${spec.resources.memoryMiB} MiB > ${limits.maxMemoryMiB}`);
  if (spec.resources.diskGiB > limits.maxDiskGiB) over.push(`disk ${spec.resources.diskGiB} GiB > ${limits.maxDiskGiB}`);
  if (gpus > limits.maxGpus) over.push(`gpus ${gpus} > ${limits.maxGpus}`);
  if (spec.maxDurationMs > limits.maxDurationMs) over.push(`duration ${spec.maxDurationMs} ms > ${limits.maxDurationMs}`);
  if (over.length > 0) throw new NtxError("JOB_EXCEEDS_LIMITS", `job exceeds this provider's limits: ${over.join(", ")}`);
  const disk = spec.resources.diskGiB * 1024 * MiB;
  // The match reserved GPUs by their index in the offer, which lists this machine's usable (NVIDIA) GPUs in order:
  // that index is the device index Docker's nvidia driver takes.
  const indices = params.gpuIndices ?? [];
  if (gpus > 0 && (indices.length !== gpus || new Set(indices).size !== gpus)) {
    throw new NtxError("JOB_GPUS_UNRESERVED", `the match reserved ${indices.length} distinct GPU(s) for a job asking ${gpus}`);
  }
  return {
    jobHash: params.jobHash,
    ...(params.escrowRef ? { escrowRef: params.escrowRef } : {}),
    image: spec.image,
    command: spec.command,
    env: spec.env,
    resources: { cpuCores: spec.resources.cpuCores, memoryMiB: spec.resources.memoryMiB, pids: limits.maxPids, gpus, ...(gpus > 0 ? { gpuDevices: indices.map(String) } : {}) },
    limits: {
      timeoutMs: spec.maxDurationMs,
      // Every writable path shares the disk the job bought: /out takes at most half (and the provider's cap),
      // /work, /dev/shm and any VOLUME the image declares share the rest (see container-spec writablePaths).
      workDirBytes: Math.max(MIN_WORK_DIR, disk) - Math.min(limits.maxOutputBytes, Math.floor(Math.max(MIN_WORK_DIR, disk) / 2)),
      outputBytes: Math.min(limits.maxOutputBytes, Math.floor(Math.max(MIN_WORK_DIR, disk) / 2)),
      logBytes: limits.maxLogBytes,
    },
  };
}
