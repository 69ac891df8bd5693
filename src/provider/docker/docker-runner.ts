import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { NtxError } from "../../../offchain/errors.js";
import { checkImageAllowed } from "../image-policy.js";
import { collectOutputs, writeEmptyOutputs, type Collected } from "../result/collect.js";
import {
  runRequestSchema,
  RunState,
  type JobRunner,
  type RunEvent,
  type RunHandle,
  type RunOptions,
  type RunOutputs,
  type RunRequest,
  type RunRequestInput,
  type RunResult,
} from "../types.js";
import { checkImageVolumes, containerOptions, execOptions, Labels, OUTPUT_DIR, volumeOptions } from "./container-spec.js";
import { LogSplitter } from "./log-splitter.js";

export interface DockerRunnerParams {
  /** Images this provider runs (see image-policy.ts). */
  allowImages: readonly string[];
  docker?: Docker;
  /** A static shell binary on the host that becomes the container's PID 1 (it only sleeps). */
  keeperBinary?: string;
  /** Added to every container and volume this runner creates (e.g. a test run id, the provider id). */
  labels?: Record<string, string>;
}

const EXIT_POLL_MS = 20;
const OOM_EVENT_GRACE_MS = 500;
/** After a timeout kill, how long the exec's output stream may take to end before the run stops waiting for it. */
const KILL_GRACE_MS = 10_000;

function now(): number {
  return Date.now();
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { statusCode?: number }).statusCode === 404;
}

function dockerError(step: string, error: unknown): NtxError {
  if (error instanceof NtxError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new NtxError("DOCKER_FAILED", `docker ${step} failed: ${message}`, { retryable: true, cause: error });
}

export function parseRunRequest(input: RunRequestInput): RunRequest {
  const parsed = runRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new NtxError("RUN_REQUEST_INVALID", `invalid run request: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}

/** Reads a stream to the end, or up to `cap` bytes (then reports overflow and stops reading). */
async function readCapped(stream: NodeJS.ReadableStream, cap: number): Promise<{ bytes: Uint8Array; overflow: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as Readable) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buffer.length;
    if (total > cap) {
      (stream as Readable).destroy();
      return { bytes: new Uint8Array(0), overflow: true };
    }
    chunks.push(buffer);
  }
  return { bytes: Buffer.concat(chunks), overflow: false };
}

/** Watches the engine's `oom` events of one container: they also fire when a process other than PID 1 dies. */
class OomWatch {
  seen = false;
  private stream?: Readable;
  private waiters: Array<() => void> = [];

  static async start(docker: Docker, containerId: string, since?: number): Promise<OomWatch> {
    const watch = new OomWatch();
    const options: Docker.GetEventsOptions = { filters: { container: [containerId], event: ["oom"] } };
    if (since !== undefined) {
      options.since = Math.floor(since / 1000) - 1;
      options.until = Math.ceil(now() / 1000) + 1;
    }
    const stream = (await docker.getEvents(options)) as Readable;
    watch.stream = stream;
    stream.on("data", () => {
      watch.seen = true;
      for (const wake of watch.waiters.splice(0)) wake();
    });
    stream.on("error", () => undefined);
    if (since !== undefined) await new Promise<void>((resolve) => { stream.once("end", resolve); stream.once("close", resolve); });
    return watch;
  }

  async waitFor(ms: number): Promise<boolean> {
    if (this.seen) return true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => { clearTimeout(timer); resolve(); });
    });
    return this.seen;
  }

  stop(): void {
    this.stream?.destroy();
  }
}

interface StreamOutcome {
  logBytes: number;
  logTruncated: boolean;
  timedOut: boolean;
}

/**
 * Executes jobs in hardened containers on the local Docker engine. The only module that knows Docker.
 */
export class DockerRunner implements JobRunner {
  readonly docker: Docker;
  private readonly allowImages: readonly string[];
  private readonly keeperBinary: string;
  private readonly labels: Record<string, string>;

  constructor(params: DockerRunnerParams) {
    this.docker = params.docker ?? new Docker();
    this.allowImages = params.allowImages;
    this.keeperBinary = params.keeperBinary ?? "/bin/busybox";
    this.labels = params.labels ?? {};
  }

  /** Resolves an allowed, pinned reference to a local image ID, checking a requested digest really matches. */
  async resolveImage(image: string): Promise<{ id: string; argv: string[]; volumes: string[] }> {
    const ref = checkImageAllowed(image, this.allowImages);
    let info: Docker.ImageInspectInfo;
    try {
      info = await this.docker.getImage(image).inspect();
    } catch (error) {
      if (isNotFound(error)) throw new NtxError("IMAGE_NOT_FOUND", `image ${image} is not on this host (no registry is used: load it first)`);
      throw dockerError("image inspect", error);
    }
    if (ref.digest !== undefined) {
      const matches = info.Id === ref.digest || (info.RepoDigests ?? []).some((d) => d.endsWith(`@${ref.digest}`));
      if (!matches) throw new NtxError("IMAGE_DIGEST_MISMATCH", `image ${image} resolved to ${info.Id}, which does not carry digest ${ref.digest}`);
    }
    const list = (v: string | string[] | null | undefined): string[] => (v == null ? [] : typeof v === "string" ? [v] : v);
    return { id: info.Id, argv: [...list(info.Config?.Entrypoint), ...list(info.Config?.Cmd)], volumes: Object.keys(info.Config?.Volumes ?? {}) };
  }

  /**
   * What can be known of an image before a match is confirmed: allowed, pinned, on this host, digest right, and
   * no VOLUME where the sandbox needs its own mounts. Throws the same NtxError the run would.
   */
  async preflight(image: string): Promise<void> {
    const resolved = await this.resolveImage(image);
    checkImageVolumes(resolved.volumes);
  }

  /** Loads an image from a `docker save` tarball (no registry is used), reporting bytes read. */
  async loadImage(tarPath: string, onProgress?: (read: number, total: number) => void): Promise<void> {
    const { createReadStream } = await import("node:fs");
    const { stat } = await import("node:fs/promises");
    const total = (await stat(tarPath)).size;
    let read = 0;
    const file = createReadStream(tarPath);
    file.on("data", (chunk) => {
      read += chunk.length;
      onProgress?.(read, total);
    });
    try {
      const response = (await this.docker.loadImage(file)) as unknown as Readable;
      const body = await readCapped(response, 16 * 1024 * 1024);
      const text = Buffer.from(body.bytes).toString("utf8");
      if (/"error"/.test(text)) throw new NtxError("IMAGE_LOAD_FAILED", `docker refused ${tarPath}: ${text.slice(0, 500)}`);
    } catch (error) {
      throw dockerError("image load", error);
    }
  }

  async run(input: RunRequestInput, options: RunOptions = {}): Promise<RunResult> {
    const request = parseRunRequest(input);
    const emit = (event: RunEvent): void => options.onEvent?.(event);
    const state = (s: RunState, detail?: string): void =>
      emit({ kind: "state", jobHash: request.jobHash, state: s, at: now(), ...(detail ? { detail } : {}) });

    const image = await this.resolveImage(request.image);
    const imageId = image.id;
    if (request.command.length === 0) {
      if (image.argv.length === 0) throw new NtxError("RUN_REQUEST_INVALID", `no command given and image ${request.image} has none`);
      request.command = image.argv;
    }
    state(RunState.Preparing);
    const suffix = randomBytes(4).toString("hex");
    const volumeName = `ntx-out-${request.jobHash.slice(0, 12)}-${suffix}`;
    const createdAt = now();
    const labels = { ...this.labels, [Labels.Managed]: "1", [Labels.Job]: request.jobHash };
    try {
      await this.docker.createVolume(volumeOptions(request, labels, volumeName));
    } catch (error) {
      throw dockerError("volume create", error);
    }
    let container: Docker.Container | undefined;
    let oom: OomWatch | undefined;
    try {
      container = await this.docker.createContainer(
        containerOptions({ request, imageId, imageVolumes: image.volumes, volumeName, keeperBinary: this.keeperBinary, name: `ntx-${request.jobHash.slice(0, 12)}-${suffix}`, startedAt: createdAt, extraLabels: this.labels }),
      );
      oom = await OomWatch.start(this.docker, container.id);
      await container.start();
      const exec = await container.exec(execOptions(request));
      const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
      const startedAt = now();
      const handle: RunHandle = { jobHash: request.jobHash, containerId: container.id, execId: exec.id, volumeName, startedAt };
      await options.onStarted?.(handle);
      state(RunState.Running);

      const outcome = await this.follow(container, stream, request, emit);
      const killed = outcome.timedOut || outcome.logTruncated;
      const exitCode = killed ? null : await this.exitCodeOf(exec);
      if (exitCode === 137 && oom) await oom.waitFor(OOM_EVENT_GRACE_MS);

      const archiveFile = options.archiveFile ?? defaultArchiveFile(request.jobHash);
      let outputs: RunOutputs;
      let outputTooLarge = false;
      if (!killed) {
        state(RunState.Collecting);
        const collected = await this.collect(container, request, archiveFile);
        outputs = collected;
        outputTooLarge = collected.tooLarge;
      } else {
        outputs = await writeEmptyOutputs(archiveFile);
      }
      const keeperOom = await container.inspect().then((i) => i.State.OOMKilled === true, () => false);
      const result: RunResult = {
        jobHash: request.jobHash,
        imageId,
        exitCode,
        oomKilled: (oom?.seen ?? false) || keeperOom,
        timedOut: outcome.timedOut,
        logTruncated: outcome.logTruncated,
        logBytes: outcome.logBytes,
        outputTooLarge,
        outputs,
        startedAt,
        finishedAt: now(),
      };
      state(RunState.Finished, describe(result));
      return result;
    } catch (error) {
      state(RunState.Failed, error instanceof Error ? error.message : String(error));
      throw dockerError("run", error);
    } finally {
      oom?.stop();
      await this.discard({ jobHash: request.jobHash, containerId: container?.id ?? "", volumeName, startedAt: createdAt });
    }
  }

  /** Streams the exec's output as log lines until it ends, killing the container on timeout or log flood. */
  private follow(container: Docker.Container, stream: Readable, request: RunRequest, emit: (e: RunEvent) => void): Promise<StreamOutcome> {
    return new Promise((resolve) => {
      const outcome: StreamOutcome = { logBytes: 0, logTruncated: false, timedOut: false };
      const splitters = {
        stdout: new LogSplitter((line) => emit({ kind: "log", jobHash: request.jobHash, stream: "stdout", line, at: now() })),
        stderr: new LogSplitter((line) => emit({ kind: "log", jobHash: request.jobHash, stream: "stderr", line, at: now() })),
      };
      let pending: Buffer = Buffer.alloc(0);
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        splitters.stdout.flush();
        splitters.stderr.flush();
        resolve(outcome);
      };
      const kill = (): void => {
        // The container dies with its keeper: everything the job started goes with it.
        container.kill({ signal: "SIGKILL" }).catch(() => undefined);
      };
      const timer = setTimeout(() => {
        outcome.timedOut = true;
        kill();
        // The exec's stream ends when the container dies; should the engine never close it (a busy or lost
        // connection), stop waiting anyway rather than hold the job "running" forever.
        setTimeout(() => {
          stream.destroy();
          finish();
        }, KILL_GRACE_MS).unref?.();
      }, request.limits.timeoutMs);

      stream.on("data", (chunk: Buffer) => {
        if (outcome.logTruncated) return;
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        // Docker's multiplexed framing (Tty false): 1 byte stream id, 3 zero bytes, 4 bytes big-endian length.
        while (pending.length >= 8) {
          const size = pending.readUInt32BE(4);
          if (pending.length < 8 + size) break;
          const which = pending[0] === 2 ? "stderr" : "stdout";
          let payload = pending.subarray(8, 8 + size);
          pending = pending.subarray(8 + size);
          const room = request.limits.logBytes - outcome.logBytes;
          if (payload.length > room) {
            payload = payload.subarray(0, Math.max(0, room));
            outcome.logTruncated = true;
          }
          outcome.logBytes += payload.length;
          splitters[which].push(payload);
          if (outcome.logTruncated) {
            stream.destroy();
            kill();
            finish();
            return;
          }
        }
      });
      stream.on("end", finish);
      stream.on("close", finish);
      stream.on("error", finish);
    });
  }

  private async exitCodeOf(exec: Docker.Exec): Promise<number | null> {
    for (let i = 0; i < 500; i++) {
      const info = await exec.inspect();
      if (!info.Running) return info.ExitCode ?? null;
      await new Promise((r) => setTimeout(r, EXIT_POLL_MS));
    }
    return null;
  }

  /**
   * Streams `/out` out of the container through the canonical tar writer into `archiveFile`: memory stays bounded
   * whatever the output's size or number of entries (see result/collect.ts).
   */
  private async collect(container: Docker.Container, request: RunRequest, archiveFile: string): Promise<Collected> {
    let archive: NodeJS.ReadableStream;
    try {
      archive = await container.getArchive({ path: OUTPUT_DIR });
    } catch (error) {
      // The keeper died (OOM of PID 1): the tmpfs went with it, nothing to collect.
      if (isNotFound(error) || /not running|is not running/i.test(String(error))) return { ...(await writeEmptyOutputs(archiveFile)), tooLarge: false };
      throw dockerError("getArchive", error);
    }
    const source = archive as Readable;
    try {
      return await collectOutputs(source, { folder: OUTPUT_DIR, archivePath: archiveFile, limits: outputLimits(request) });
    } finally {
      source.destroy();
    }
  }

  async resume(handle: RunHandle, input: RunRequestInput, options: RunOptions = {}): Promise<RunResult | null> {
    const request = parseRunRequest(input);
    const container = this.docker.getContainer(handle.containerId);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (error) {
      if (isNotFound(error)) { await this.discard(handle); return null; }
      throw dockerError("inspect", error);
    }
    if (!info.State.Running || handle.execId === undefined) { await this.discard(handle); return null; }
    const exec = this.docker.getExec(handle.execId);
    const execInfo = await exec.inspect().catch(() => undefined);
    if (execInfo === undefined || execInfo.Running) {
      // Its log stream went with the old process, so its log cap can no longer be enforced: start again.
      await this.discard(handle);
      return null;
    }
    try {
      options.onEvent?.({ kind: "state", jobHash: request.jobHash, state: RunState.Collecting, at: now(), detail: "resumed after restart" });
      const oom = await OomWatch.start(this.docker, handle.containerId, handle.startedAt);
      const collected = await this.collect(container, request, options.archiveFile ?? defaultArchiveFile(request.jobHash));
      const result: RunResult = {
        jobHash: request.jobHash,
        imageId: info.Image,
        exitCode: execInfo.ExitCode ?? null,
        oomKilled: oom.seen || info.State.OOMKilled === true,
        timedOut: false,
        logTruncated: false,
        logBytes: 0,
        outputTooLarge: collected.tooLarge,
        outputs: collected,
        startedAt: handle.startedAt,
        finishedAt: now(),
      };
      oom.stop();
      options.onEvent?.({ kind: "state", jobHash: request.jobHash, state: RunState.Finished, at: now(), detail: describe(result) });
      return result;
    } finally {
      await this.discard(handle);
    }
  }

  /** Containers of this runner on the host, and its volumes that no container holds (left by a crash). */
  async list(): Promise<RunHandle[]> {
    const label = [`${Labels.Managed}=1`, ...Object.entries(this.labels).map(([k, v]) => `${k}=${v}`)];
    const containers = await this.docker.listContainers({ all: true, filters: { label } });
    const handles = containers.map((c) => ({
      jobHash: c.Labels[Labels.Job] ?? "",
      containerId: c.Id,
      volumeName: c.Labels[Labels.Volume] ?? "",
      startedAt: Number(c.Labels[Labels.StartedAt] ?? 0),
    }));
    const held = new Set(handles.map((h) => h.volumeName));
    const { Volumes } = await this.docker.listVolumes({ filters: { label } });
    for (const v of Volumes ?? []) {
      if (!held.has(v.Name)) handles.push({ jobHash: v.Labels?.[Labels.Job] ?? "", containerId: "", volumeName: v.Name, startedAt: 0 });
    }
    return handles;
  }

  async discard(handle: RunHandle): Promise<void> {
    if (handle.containerId) {
      await this.docker.getContainer(handle.containerId).remove({ force: true, v: true }).catch((error: unknown) => {
        if (!isNotFound(error)) throw dockerError("remove", error);
      });
    }
    if (handle.volumeName) {
      await this.docker.getVolume(handle.volumeName).remove().catch((error: unknown) => {
        if (!isNotFound(error)) throw dockerError("volume remove", error);
      });
    }
  }
}

/** Most entries a result may have (each costs at least a 512-byte header; hard links cost nothing else). */
export const MAX_RESULT_ENTRIES = 1_000_000;

/**
 * What collection may read: the file data fits the outputs tmpfs anyway; headers (hard links are only headers)
 * may add as much again, so a folder of links to one file cannot make an archive without bound.
 */
export function outputLimits(request: RunRequest) {
  return { maxDataBytes: request.limits.outputBytes, maxArchiveBytes: 2 * request.limits.outputBytes + 1024 * 1024, maxEntries: MAX_RESULT_ENTRIES };
}

function defaultArchiveFile(jobHash: string): string {
  return join(tmpdir(), `ntx-result-${jobHash.slice(0, 16)}-${randomBytes(4).toString("hex")}.tar`);
}

export function describe(result: RunResult): string {
  const parts = [result.exitCode === null ? "killed" : `exit ${result.exitCode}`];
  if (result.timedOut) parts.push("timed out");
  if (result.oomKilled) parts.push("out of memory");
  if (result.logTruncated) parts.push("log cap reached");
  if (result.outputTooLarge) parts.push("outputs over the cap");
  return parts.join(", ");
}
