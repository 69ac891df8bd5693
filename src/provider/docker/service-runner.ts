import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { NtxError } from "../../../offchain/errors.js";
import { readMetric } from "../service/prometheus.js";
import { serviceRequestSchema, type PublishedPort, type ServiceHandle, type ServiceRequest, type ServiceRequestInput, type ServiceRunner, type ServiceSecrets, type ServiceStatus } from "../service/types.js";
import { Labels } from "./container-spec.js";
import type { DockerRunner } from "./docker-runner.js";
import { ensureVolume, mountSecrets, removeVolume, unmountSecrets, unmount, writeServiceFiles } from "./host-mounts.js";
import { portKey, serviceContainerOptions, ServiceLabels } from "./service-spec.js";

export interface DockerServiceRunnerParams {
  /** Resolves and checks images exactly as batch jobs do (allow-list, pinning, digest, VOLUMEs). */
  images: Pick<DockerRunner, "resolveImage">;
  docker?: Docker;
  /** Host folder for volume images, their mount points and service files. */
  stateDir: string;
  /** Host folder under which each service's secrets tmpfs is mounted (apart from stateDir, which may be backed up). */
  secretsRoot?: string;
  /** The network services join: a bridge of their own, isolated from other containers and each other. */
  network?: string;
  publishIp?: string;
  /** Prefix of container names (tests use their own). */
  namePrefix?: string;
  labels?: Record<string, string>;
  healthTimeoutMs?: number;
}

const MAX_METRICS_BYTES = 4 * 1024 * 1024;

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { statusCode?: number }).statusCode === 404;
}

function dockerError(step: string, error: unknown): NtxError {
  if (error instanceof NtxError) return error;
  return new NtxError("DOCKER_FAILED", `docker ${step} failed: ${error instanceof Error ? error.message : String(error)}`, { retryable: true, cause: error });
}

export function parseServiceRequest(input: ServiceRequestInput): ServiceRequest {
  const parsed = serviceRequestSchema.safeParse(input);
  if (!parsed.success) throw new NtxError("RUN_REQUEST_INVALID", `invalid service request: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** Runs services (stake-pool nodes) on the local engine; the only other module that knows Docker. */
export class DockerServiceRunner implements ServiceRunner {
  readonly docker: Docker;
  readonly network: string;
  private readonly publishIp: string;
  private readonly namePrefix: string;
  private readonly labels: Record<string, string>;
  private readonly secretsRoot: string;

  constructor(private readonly params: DockerServiceRunnerParams) {
    this.docker = params.docker ?? new Docker();
    this.network = params.network ?? "ntx-services";
    this.publishIp = params.publishIp ?? "0.0.0.0";
    this.namePrefix = params.namePrefix ?? "ntx-svc";
    this.labels = params.labels ?? {};
    this.secretsRoot = params.secretsRoot ?? "/run/ntx-secrets";
  }

  private paths(request: ServiceRequest) {
    const key = request.jobHash.slice(0, 16);
    const volumeKey = request.service.volume ? `${key}-${request.service.volume.name}` : undefined;
    return {
      volumeKey,
      files: join(this.params.stateDir, `${key}.files`),
      secrets: join(this.secretsRoot, key),
      name: `${this.namePrefix}-${key}`,
    };
  }

  /** The services' own bridge: no traffic between containers on it (icc off), and none with other networks. */
  async ensureNetwork(): Promise<void> {
    const found = await this.docker.listNetworks({ filters: { name: [this.network] } });
    if (found.some((n) => n.Name === this.network)) return;
    try {
      await this.docker.createNetwork({
        Name: this.network,
        Driver: "bridge",
        CheckDuplicate: true,
        Options: { "com.docker.network.bridge.enable_icc": "false" },
        Labels: { ...this.labels, [Labels.Managed]: "1" },
      });
    } catch (error) {
      if (!/already exists/i.test(String(error))) throw dockerError("network create", error);
    }
  }

  async start(input: ServiceRequestInput, secrets?: ServiceSecrets): Promise<ServiceHandle> {
    const request = parseServiceRequest(input);
    const paths = this.paths(request);
    const existing = await this.find(request.jobHash);
    const volumePath = request.service.volume && paths.volumeKey ? await ensureVolume(this.params.stateDir, paths.volumeKey, request.service.volume.sizeMiB) : undefined;
    const wanted = request.service.secrets;
    if (wanted) {
      const given = Object.keys(secrets ?? {}).sort().join(",");
      if (given !== [...wanted.names].sort().join(",")) throw new NtxError("SERVICE_SECRETS_MISSING", `the service needs secrets ${wanted.names.join(", ")}; got ${given || "none"}`);
      await mountSecrets(paths.secrets, secrets!);
    }
    if (existing) {
      // A provider restart: the container kept running under the engine; adopt it.
      const container = this.docker.getContainer(existing.containerId);
      const info = await container.inspect();
      if (!info.State.Running) await container.start().catch((e: unknown) => { throw dockerError("start", e); });
      return this.handleOf(existing.containerId, request.jobHash, volumePath);
    }
    const image = await this.params.images.resolveImage(request.image);
    if (request.service.files) await writeServiceFiles(paths.files, request.service.files.entries);
    await this.ensureNetwork();
    const options = serviceContainerOptions({
      request,
      imageId: image.id,
      imageVolumes: image.volumes,
      name: `${paths.name}-${randomBytes(3).toString("hex")}`,
      network: this.network,
      publishIp: this.publishIp,
      mounts: { ...(volumePath ? { volumePath } : {}), ...(request.service.files ? { filesPath: paths.files } : {}), ...(wanted ? { secretsPath: paths.secrets } : {}) },
      labels: this.labels,
    });
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(options);
      await container.start();
    } catch (error) {
      throw dockerError("service start", error);
    }
    return this.handleOf(container.id, request.jobHash, volumePath);
  }

  private async handleOf(containerId: string, jobHash: string, volumePath: string | undefined): Promise<ServiceHandle> {
    const info = await this.docker.getContainer(containerId).inspect();
    const ports: PublishedPort[] = [];
    for (const [key, bindings] of Object.entries(info.NetworkSettings.Ports ?? {})) {
      const [port, protocol] = key.split("/");
      const hostPort = Number(bindings?.[0]?.HostPort ?? 0);
      if (hostPort > 0) ports.push({ container: Number(port), protocol: protocol === "udp" ? "udp" : "tcp", hostPort });
    }
    return { jobHash, containerId, ...(volumePath ? { volumePath } : {}), ports };
  }

  private async find(jobHash: string): Promise<ServiceHandle | undefined> {
    return (await this.list()).find((h) => h.jobHash === jobHash);
  }

  async status(handle: ServiceHandle, input: ServiceRequestInput, metrics: readonly string[] = []): Promise<ServiceStatus> {
    const request = parseServiceRequest(input);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(handle.containerId).inspect();
    } catch (error) {
      if (isNotFound(error)) return { running: false, restarts: 0, exitCode: null, oomKilled: false, healthy: null, detail: "container gone" };
      throw dockerError("inspect", error);
    }
    const base = { running: info.State.Running, restarts: info.RestartCount ?? 0, exitCode: info.State.Running ? null : info.State.ExitCode, oomKilled: info.State.OOMKilled === true };
    if (!info.State.Running) return { ...base, healthy: null };
    const health = request.service.health;
    if (health.kind === "prometheus") {
      const ip = info.NetworkSettings.Networks?.[this.network]?.IPAddress;
      if (!ip) return { ...base, healthy: false, detail: "no address on the services network" };
      const text = await this.scrape(`http://${ip}:${health.port}${health.path}`);
      const value = text === undefined ? undefined : readMetric(text, health.metric);
      const values: Record<string, number> = {};
      for (const name of metrics) {
        const v = text === undefined ? undefined : readMetric(text, name);
        if (v !== undefined && Number.isFinite(v)) values[name] = v;
      }
      return value === undefined ? { ...base, healthy: false, detail: `no ${health.metric}` } : { ...base, healthy: true, metric: value, metrics: values };
    }
    const code = await this.execStatus(handle.containerId, health.command);
    return { ...base, healthy: code === 0, ...(code === 0 ? {} : { detail: `health command exited ${code ?? "(timed out)"}` }) };
  }

  /** One bounded scrape: timeout, body cap; undefined on any failure. */
  private async scrape(url: string): Promise<string | undefined> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.params.healthTimeoutMs ?? 3_000), redirect: "error" });
      if (!response.ok || !response.body) return undefined;
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > MAX_METRICS_BYTES) return undefined;
      }
      return text;
    } catch {
      return undefined;
    }
  }

  private async execStatus(containerId: string, command: string[]): Promise<number | null> {
    const container = this.docker.getContainer(containerId);
    try {
      const exec = await container.exec({ Cmd: command, User: "65534:65534", AttachStdout: false, AttachStderr: false, Tty: false });
      await exec.start({ Detach: true });
      const deadline = Date.now() + (this.params.healthTimeoutMs ?? 3_000);
      while (Date.now() < deadline) {
        const info = await exec.inspect();
        if (!info.Running) return info.ExitCode ?? null;
        await new Promise((r) => setTimeout(r, 50));
      }
      return null;
    } catch {
      return null;
    }
  }

  async stop(handle: ServiceHandle, graceMs = 30_000): Promise<void> {
    try {
      await this.docker.getContainer(handle.containerId).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (error) {
      // 304: already stopped; 404: gone.
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 304 && status !== 404) throw dockerError("stop", error);
    }
  }

  async remove(handle: ServiceHandle): Promise<void> {
    let labels: Record<string, string> = {};
    try {
      const info = await this.docker.getContainer(handle.containerId).inspect();
      labels = info.Config.Labels ?? {};
      await this.docker.getContainer(handle.containerId).remove({ force: true, v: true });
    } catch (error) {
      if (!isNotFound(error)) throw dockerError("remove", error);
    }
    const key = handle.jobHash.slice(0, 16);
    await unmountSecrets(labels[ServiceLabels.SecretsDir] ?? join(this.secretsRoot, key));
    const volumePath = handle.volumePath ?? labels[ServiceLabels.VolumePath];
    if (volumePath) {
      const volumeKey = volumePath.slice(this.params.stateDir.length + 1).replace(/\.mnt$/, "");
      if (volumePath.startsWith(`${this.params.stateDir}/`)) await removeVolume(this.params.stateDir, volumeKey);
      else await unmount(volumePath);
    }
    await rm(join(this.params.stateDir, `${key}.files`), { recursive: true, force: true });
  }

  async list(): Promise<ServiceHandle[]> {
    const label = [`${Labels.Managed}=1`, `${ServiceLabels.Service}=1`, ...Object.entries(this.labels).map(([k, v]) => `${k}=${v}`)];
    const containers = await this.docker.listContainers({ all: true, filters: { label } });
    return containers.map((c) => ({
      jobHash: c.Labels[Labels.Job] ?? "",
      containerId: c.Id,
      ...(c.Labels[ServiceLabels.VolumePath] ? { volumePath: c.Labels[ServiceLabels.VolumePath] } : {}),
      ports: (c.Ports ?? []).filter((p) => p.PublicPort).map((p) => ({ container: p.PrivatePort, protocol: p.Type === "udp" ? "udp" : "tcp", hostPort: p.PublicPort as number })),
    }));
  }

  /** Removes the services network when no container uses it (tests; an operator's teardown). */
  async removeNetwork(): Promise<void> {
    await this.docker.getNetwork(this.network).remove().catch((error: unknown) => { if (!isNotFound(error)) throw dockerError("network remove", error); });
  }
}

export { portKey };
