import { NtxError } from "../../../offchain/errors.js";
import type { JobSpec } from "../../market/schemas.js";
import type { ProviderLimits } from "../config.js";
import type { ServiceRequest } from "./types.js";

/** Processes a service may start (a node spawns few; the cap bounds a fork bomb like a batch job's). */
export const SERVICE_PIDS = 1024;

/**
 * The service request a matched service spec becomes on this provider, or a coded refusal (the market loop
 * declines the match with its message): a service spec, no GPU (not offered to services yet), within the
 * provider's limits (the lease length is bounded by the lease, not by the batch duration limit).
 */
export function serviceRequestFromSpec(params: { spec: JobSpec; jobHash: string; limits: ProviderLimits }): ServiceRequest {
  const { spec, limits } = params;
  if (spec.kind !== "service" || spec.service === undefined) throw new NtxError("RUN_REQUEST_INVALID", "not a service job");
  if (spec.resources.gpu) throw new NtxError("JOB_GPUS_UNRESERVED", "services with GPUs are not offered");
  const over: string[] = [];
  if (spec.resources.cpuCores > limits.maxCpuCores) over.push(`cpu ${spec.resources.cpuCores} > ${limits.maxCpuCores}`);
  if (spec.resources.memoryMiB > limits.maxMemoryMiB) over.push(`memory ${spec.resources.memoryMiB} MiB > ${limits.maxMemoryMiB}`);
  if (spec.resources.diskGiB > limits.maxDiskGiB) over.push(`disk ${spec.resources.diskGiB} GiB > ${limits.maxDiskGiB}`);
  if (over.length > 0) throw new NtxError("JOB_EXCEEDS_LIMITS", `service exceeds this provider's limits: ${over.join(", ")}`);
  return {
    jobHash: params.jobHash,
    image: spec.image,
    command: spec.command,
    env: spec.env,
    resources: { cpuCores: spec.resources.cpuCores, memoryMiB: spec.resources.memoryMiB, pids: SERVICE_PIDS },
    service: spec.service,
  };
}
