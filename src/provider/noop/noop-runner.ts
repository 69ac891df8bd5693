import { NtxError } from "../../../offchain/errors.js";
import { checkImageAllowed } from "../image-policy.js";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake2b256Hex } from "../../crypto/sodium.js";
import { writeDeterministicTar } from "../result/tar.js";
import { runRequestSchema, RunState, type JobRunner, type RunHandle, type RunOptions, type RunRequestInput, type RunResult } from "../types.js";

export interface NoopRunnerParams {
  allowImages?: readonly string[];
  /** Files the fake job "writes" to its outputs, by default one file naming the command. */
  outputs?: (command: readonly string[]) => Record<string, string>;
  exitCode?: number;
  /** Resolves when the fake job may finish: lets tests hold a job "running". */
  gate?: () => Promise<void>;
}

/**
 * A runner that runs nothing: it validates the request like the Docker runner, then reports a result computed
 * the same way (deterministic tar + blake2b-256), so the daemon and the chain side can be unit-tested quickly.
 */
export class NoopRunner implements JobRunner {
  readonly runs: RunResult[] = [];
  private readonly live = new Map<string, RunHandle>();

  constructor(private readonly params: NoopRunnerParams = {}) {}

  async run(input: RunRequestInput, options: RunOptions = {}): Promise<RunResult> {
    const parsed = runRequestSchema.safeParse(input);
    if (!parsed.success) throw new NtxError("RUN_REQUEST_INVALID", parsed.error.message);
    const request = parsed.data;
    if (this.params.allowImages) checkImageAllowed(request.image, this.params.allowImages);
    const startedAt = Date.now();
    const handle: RunHandle = { jobHash: request.jobHash, containerId: `noop-${request.jobHash}`, execId: "noop", volumeName: "", startedAt };
    this.live.set(handle.containerId, handle);
    await options.onStarted?.(handle);
    options.onEvent?.({ kind: "state", jobHash: request.jobHash, state: RunState.Running, at: Date.now() });
    options.onEvent?.({ kind: "log", jobHash: request.jobHash, stream: "stdout", line: request.command.join(" "), at: Date.now() });
    await this.params.gate?.();
    const files = this.params.outputs?.(request.command) ?? { "command.txt": `${request.command.join(" ")}\n` };
    const archive = writeDeterministicTar(Object.entries(files).map(([path, text]) => ({ path, type: "file" as const, mode: 0o644, data: Buffer.from(text) })));
    const archiveFile = options.archiveFile ?? join(tmpdir(), `ntx-noop-${request.jobHash.slice(0, 16)}-${randomBytes(4).toString("hex")}.tar`);
    await writeFile(archiveFile, archive, { mode: 0o600 });
    this.live.delete(handle.containerId);
    const result: RunResult = {
      jobHash: request.jobHash,
      imageId: `sha256:${"0".repeat(64)}`,
      exitCode: this.params.exitCode ?? 0,
      oomKilled: false,
      timedOut: false,
      logTruncated: false,
      logBytes: request.command.join(" ").length + 1,
      outputTooLarge: false,
      outputs: { archiveFile, archiveBytes: archive.length, resultHash: blake2b256Hex(archive), files: Object.keys(files).length, bytes: Object.values(files).reduce((n, t) => n + Buffer.byteLength(t), 0) },
      startedAt,
      finishedAt: Date.now(),
    };
    this.runs.push(result);
    options.onEvent?.({ kind: "state", jobHash: request.jobHash, state: RunState.Finished, at: Date.now() });
    return result;
  }

  async resume(handle: RunHandle): Promise<RunResult | null> {
    this.live.delete(handle.containerId);
    return null;
  }

  async list(): Promise<RunHandle[]> {
    return [...this.live.values()];
  }

  async discard(handle: RunHandle): Promise<void> {
    this.live.delete(handle.containerId);
  }
}
