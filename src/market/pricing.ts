import type { JobResources, Prices } from "./schemas.js";

const MS_PER_HOUR = 3_600_000n;
const MIB_PER_GIB = 1024n;

/**
 * Price of a job at an offer's unit-hour prices, base units, rounded up (a provider is never paid less than its
 * price): (cores·cpu + MiB/1024·mem + GiB·disk + gpus·gpu) · ms / 3,600,000.
 */
export function jobPrice(prices: Prices, resources: JobResources, durationMs: number): bigint {
  const perHourTimesMib =
    BigInt(resources.cpuCores) * prices.cpuCoreHour * MIB_PER_GIB +
    BigInt(resources.memoryMiB) * prices.memoryGiBHour +
    BigInt(resources.diskGiB) * prices.diskGiBHour * MIB_PER_GIB +
    BigInt(resources.gpu?.count ?? 0) * prices.gpuHour * MIB_PER_GIB;
  const numerator = perHourTimesMib * BigInt(durationMs);
  const denominator = MIB_PER_GIB * MS_PER_HOUR;
  return (numerator + denominator - 1n) / denominator;
}

/** Float prices for index pruning only; every decision is re-checked with jobPrice. */
export interface FloatPrices {
  cpu: number;
  mem: number;
  disk: number;
  gpu: number;
}

export function floatPrices(prices: Prices): FloatPrices {
  return { cpu: Number(prices.cpuCoreHour), mem: Number(prices.memoryGiBHour), disk: Number(prices.diskGiBHour), gpu: Number(prices.gpuHour) };
}

export function floatJobPrice(p: FloatPrices, r: JobResources, durationMs: number): number {
  return ((r.cpuCores * p.cpu + (r.memoryMiB / 1024) * p.mem + r.diskGiB * p.disk + (r.gpu?.count ?? 0) * p.gpu) * durationMs) / 3_600_000;
}
