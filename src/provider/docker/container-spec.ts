import type Docker from "dockerode";
import { NtxError } from "../../../offchain/errors.js";
import type { RunRequest } from "../types.js";

/**
 * The container a job runs in, as a pure function of the request, so the hardening can be unit-tested without
 * an engine. Layout: PID 1 is a keeper (a static busybox from the host, bind-mounted read-only) that only
 * sleeps; the job itself runs as an exec. The keeper keeps the outputs tmpfs mounted after the job exits, which
 * is what lets us read `/out` back (a tmpfs vanishes with its container, and `HostConfig.Tmpfs` mounts are not
 * visible to getArchive at all; a tmpfs-backed volume is, while mounted).
 */

export const KEEPER_PATH = "/.ntx/busybox";
export const WORK_DIR = "/work";
export const OUTPUT_DIR = "/out";
export const JOB_USER = "65534:65534";
/** Bounds the inode count of the outputs tmpfs, and with it the size of the archive headers we read back. */
export const MAX_OUTPUT_FILES = 4096;

export const Labels = {
  Job: "ntx.job",
  Escrow: "ntx.escrow",
  Volume: "ntx.volume",
  StartedAt: "ntx.started-at",
  Managed: "ntx.managed",
} as const;

/** More declared volumes than this and the image is refused: each one takes a share of the job's disk. */
export const MAX_IMAGE_VOLUMES = 8;
const MiB = 1024 * 1024;

/** The VOLUMEs an image declares, normalised; refuses any that would cover a path the sandbox needs, or too many. */
export function checkImageVolumes(imageVolumes: readonly string[]): string[] {
  const volumes = [...new Set(imageVolumes.map((v) => v.replace(/\/+$/, "") || "/"))].filter((v) => v !== WORK_DIR).sort();
  for (const v of volumes) {
    if (!v.startsWith("/") || v === "/" || v === OUTPUT_DIR || v.startsWith(`${OUTPUT_DIR}/`) || v === "/.ntx" || v.startsWith("/.ntx/") || v.startsWith("/dev") || v.startsWith("/proc") || v.startsWith("/sys") || v.split("/").includes("..")) {
      throw new NtxError("IMAGE_VOLUME_REFUSED", `the image declares VOLUME ${v}, which would cover a path the sandbox needs`);
    }
  }
  if (volumes.length > MAX_IMAGE_VOLUMES) throw new NtxError("IMAGE_VOLUME_REFUSED", `the image declares ${volumes.length} volumes (at most ${MAX_IMAGE_VOLUMES})`);
  return volumes;
}

/**
 * Every path the job can write, and how big each may grow. The job's disk (`workDirBytes`) is shared out between
 * /dev/shm, /work and each VOLUME the image declares (a size-limited tmpfs over each, so nothing lands on host disk
 * and the sizes add up to the disk the job bought); `/out` is its own tmpfs of `outputBytes`. All of them are
 * tmpfs, so they are also charged to the memory limit, which hostConfig raises by exactly these sizes.
 */
export function writablePaths(request: RunRequest, imageVolumes: readonly string[]): { tmpfs: Record<string, string>; shmSize: number } {
  const volumes = checkImageVolumes(imageVolumes);
  const budget = request.limits.workDirBytes;
  // Floors to 4 KiB pages; the sum never passes the budget.
  const page = (n: number) => Math.max(4096, Math.floor(n / 4096) * 4096);
  const shmSize = page(Math.min(64 * MiB, budget / 8));
  const share = page((budget - shmSize) / (volumes.length + 1));
  const opts = (size: number) => `rw,noexec,nosuid,nodev,size=${size},uid=65534,gid=65534,mode=0755`;
  const tmpfs: Record<string, string> = { [WORK_DIR]: opts(share) };
  for (const v of volumes) tmpfs[v] = opts(share);
  return { tmpfs, shmSize };
}

export interface ContainerSpecParams {
  request: RunRequest;
  imageId: string;
  /** Paths the image declares as VOLUME (each gets a tmpfs instead of an anonymous volume on host disk). */
  imageVolumes?: readonly string[];
  volumeName: string;
  keeperBinary: string;
  name: string;
  startedAt: number;
  extraLabels?: Record<string, string>;
}

export function volumeOptions(request: RunRequest, labels: Record<string, string>, name: string): Docker.VolumeCreateOptions {
  return {
    Name: name,
    Driver: "local",
    // uid/gid because a tmpfs root is otherwise owned by root and the job user could not write to it.
    DriverOpts: { type: "tmpfs", device: "tmpfs", o: `size=${request.limits.outputBytes},nr_inodes=${MAX_OUTPUT_FILES},uid=65534,gid=65534,mode=0755,nodev,nosuid` },
    Labels: labels,
  };
}

export function jobLabels(request: RunRequest, volumeName: string, startedAt: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...extra,
    [Labels.Managed]: "1",
    [Labels.Job]: request.jobHash,
    [Labels.Volume]: volumeName,
    [Labels.StartedAt]: String(startedAt),
    ...(request.escrowRef ? { [Labels.Escrow]: request.escrowRef } : {}),
  };
}

export function hostConfig(request: RunRequest, volumeName: string, keeperBinary: string, imageVolumes: readonly string[] = []): Docker.HostConfig {
  const writable = writablePaths(request, imageVolumes);
  // tmpfs pages are charged to the container's memory cgroup: add the two tmpfs sizes on top of what the job
  // bought, or a job filling its disk would lose its memory (and the other way round).
  const memory = request.resources.memoryMiB * 1024 * 1024 + request.limits.workDirBytes + request.limits.outputBytes;
  const config: Docker.HostConfig = {
    NetworkMode: "none",
    ReadonlyRootfs: true,
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges"],
    Memory: memory,
    // Equal to Memory: no swap, so the memory limit is the limit.
    MemorySwap: memory,
    NanoCpus: Math.round(request.resources.cpuCores * 1e9),
    PidsLimit: request.resources.pids,
    Tmpfs: writable.tmpfs,
    ShmSize: writable.shmSize,
    Binds: [`${keeperBinary}:${KEEPER_PATH}:ro`],
    Mounts: [{ Type: "volume", Source: volumeName, Target: OUTPUT_DIR }],
    // The engine's json-file log only ever holds the keeper's (empty) output; keep it bounded anyway.
    LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "1" } },
    Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }],
    IpcMode: "private",
    RestartPolicy: { Name: "no" },
  };
  if (request.resources.gpus > 0) {
    // Exactly the devices the match reserved: `Count` would let the driver pick any, and two jobs share a card.
    const devices = request.resources.gpuDevices;
    if (devices === undefined || devices.length !== request.resources.gpus) {
      throw new NtxError("RUN_REQUEST_INVALID", `a job with ${request.resources.gpus} GPU(s) must name the reserved devices`);
    }
    config.DeviceRequests = [{ Driver: "nvidia", DeviceIDs: [...devices], Capabilities: [["gpu", "compute", "utility"]] }];
  }
  return config;
}

export function containerOptions(params: ContainerSpecParams): Docker.ContainerCreateOptions {
  const { request } = params;
  return {
    name: params.name,
    Image: params.imageId,
    Entrypoint: [KEEPER_PATH],
    Cmd: ["sleep", "2147483647"],
    User: JOB_USER,
    WorkingDir: WORK_DIR,
    Env: [],
    Labels: jobLabels(request, params.volumeName, params.startedAt, params.extraLabels),
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StopSignal: "SIGKILL",
    // The image's HEALTHCHECK would run inside the job, uncounted, for as long as it lives.
    Healthcheck: { Test: ["NONE"] },
    HostConfig: hostConfig(request, params.volumeName, params.keeperBinary, params.imageVolumes),
  };
}

export function execOptions(request: RunRequest): Docker.ExecCreateOptions {
  return {
    Cmd: request.command,
    Env: Object.entries(request.env).map(([key, value]) => `${key}=${value}`),
    User: JOB_USER,
    WorkingDir: WORK_DIR,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Privileged: false,
  };
}
