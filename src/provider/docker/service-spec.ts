import type Docker from "dockerode";
import type { ServiceRequest } from "../service/types.js";
import { checkImageVolumes, JOB_USER, Labels } from "./container-spec.js";

/**
 * The container a service runs in, as a pure function of the request (unit-testable without an engine). The
 * batch sandbox holds, with three changes a long-running node needs: the service is PID 1 and the engine
 * restarts it per its policy; exactly the asked ports are published (on a network of services only, isolated
 * from every other container); its volume is a bind of a loop-mounted file system of the size bought. Memory and
 * CPU are reserved as well as capped (a guarantee, not just a ceiling). A negative OomScoreAdj (batch jobs
 * die first) is refused by runc on this machine kind, so it is not set.
 */

export const ServiceLabels = { Service: "ntx.service", VolumePath: "ntx.volume-path", SecretsDir: "ntx.secrets-dir" } as const;
/** Size of the /tmp tmpfs (RAM, counted in the memory limit). */
export const SERVICE_TMP_BYTES = 64 * 1024 * 1024;
/** Size of each scratch folder and each tmpfs over an image's VOLUME. */
export const SCRATCH_BYTES = 16 * 1024 * 1024;

export interface ServiceMounts {
  volumePath?: string;
  filesPath?: string;
  secretsPath?: string;
}

export interface ServiceSpecParams {
  request: ServiceRequest;
  imageId: string;
  imageVolumes: readonly string[];
  name: string;
  network: string;
  /** Host address ports are published on (0.0.0.0 for the world). */
  publishIp: string;
  /** Fixed host ports per `port/proto` (a relay keeps its address across restarts); others get a free port. */
  hostPorts?: Record<string, number>;
  mounts: ServiceMounts;
  labels?: Record<string, string>;
}

export function portKey(port: { container: number; protocol: string }): string {
  return `${port.container}/${port.protocol}`;
}

function restartPolicy(request: ServiceRequest): Docker.HostRestartPolicy {
  const { policy, maxRestarts } = request.service.restart;
  return policy === "always" ? { Name: "unless-stopped" } : { Name: "on-failure", MaximumRetryCount: maxRestarts };
}

export function serviceContainerOptions(params: ServiceSpecParams): Docker.ContainerCreateOptions {
  const { request, mounts } = params;
  const volume = request.service.volume;
  const { files, secrets, scratch = [] } = request.service;
  const covered = new Set([volume?.mountPath, files?.dir, secrets?.dir, "/tmp", ...scratch]);
  // Each VOLUME the image declares gets a small tmpfs, never an anonymous volume on host disk (#10).
  const tmpfsOpts = (size: number) => `rw,noexec,nosuid,nodev,size=${size},uid=65534,gid=65534,mode=0755`;
  const imageVolumes = checkImageVolumes(params.imageVolumes).filter((v) => !covered.has(v));
  const tmpfs: Record<string, string> = { "/tmp": tmpfsOpts(SERVICE_TMP_BYTES) };
  for (const v of [...imageVolumes, ...scratch]) tmpfs[v] = tmpfsOpts(SCRATCH_BYTES);
  const memory = request.resources.memoryMiB * 1024 * 1024 + SERVICE_TMP_BYTES + (imageVolumes.length + scratch.length) * SCRATCH_BYTES;

  const binds: Docker.MountSettings[] = [];
  if (volume && mounts.volumePath) binds.push({ Type: "bind", Source: mounts.volumePath, Target: volume.mountPath, ReadOnly: false });
  if (files && mounts.filesPath) binds.push({ Type: "bind", Source: mounts.filesPath, Target: files.dir, ReadOnly: true });
  if (secrets && mounts.secretsPath) binds.push({ Type: "bind", Source: mounts.secretsPath, Target: secrets.dir, ReadOnly: true });

  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of request.service.ports) {
    const key = portKey(port);
    exposed[key] = {};
    bindings[key] = [{ HostIp: params.publishIp, HostPort: String(params.hostPorts?.[key] ?? "") }];
  }

  const labels: Record<string, string> = {
    ...(params.labels ?? {}),
    [Labels.Managed]: "1",
    [Labels.Job]: request.jobHash,
    [ServiceLabels.Service]: "1",
    ...(mounts.volumePath ? { [ServiceLabels.VolumePath]: mounts.volumePath } : {}),
    ...(mounts.secretsPath ? { [ServiceLabels.SecretsDir]: mounts.secretsPath } : {}),
  };

  return {
    name: params.name,
    Image: params.imageId,
    ...(request.command.length > 0 ? { Entrypoint: request.command.slice(0, 1), Cmd: request.command.slice(1) } : {}),
    User: JOB_USER,
    Env: Object.entries(request.env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    ExposedPorts: exposed,
    Tty: false,
    OpenStdin: false,
    // The provider polls the spec's own health contract; the image's HEALTHCHECK would run uncounted.
    Healthcheck: { Test: ["NONE"] },
    HostConfig: {
      NetworkMode: params.network,
      PortBindings: bindings,
      // Only what the spec publishes: the image's EXPOSE must not publish anything on its own.
      PublishAllPorts: false,
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Memory: memory,
      MemorySwap: memory,
      MemoryReservation: memory,
      NanoCpus: Math.round(request.resources.cpuCores * 1e9),
      CpuShares: Math.max(2, Math.round(request.resources.cpuCores * 1024)),
      PidsLimit: request.resources.pids,
      Tmpfs: tmpfs,
      ShmSize: 16 * 1024 * 1024,
      Mounts: binds,
      LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
      Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }],
      IpcMode: "private",
      RestartPolicy: restartPolicy(request),
    },
  };
}
