import type Docker from "dockerode";
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

export interface ContainerSpecParams {
  request: RunRequest;
  imageId: string;
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

export function hostConfig(request: RunRequest, volumeName: string, keeperBinary: string): Docker.HostConfig {
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
    Tmpfs: { [WORK_DIR]: `rw,noexec,nosuid,nodev,size=${request.limits.workDirBytes},uid=65534,gid=65534,mode=0755` },
    Binds: [`${keeperBinary}:${KEEPER_PATH}:ro`],
    Mounts: [{ Type: "volume", Source: volumeName, Target: OUTPUT_DIR }],
    // The engine's json-file log only ever holds the keeper's (empty) output; keep it bounded anyway.
    LogConfig: { Type: "json-file", Config: { "max-size": "1m", "max-file": "1" } },
    Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }],
    IpcMode: "private",
    RestartPolicy: { Name: "no" },
  };
  if (request.resources.gpus > 0) {
    config.DeviceRequests = [{ Driver: "nvidia", Count: request.resources.gpus, Capabilities: [["gpu", "compute", "utility"]] }];
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
    HostConfig: hostConfig(request, params.volumeName, params.keeperBinary),
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
