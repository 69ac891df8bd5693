import { jetstream } from "@nats-io/jetstream";
import { jobEventsSubject, jobLogsSubject } from "../../nats/subjects.js";
import type { NatsConnection } from "../../nats/connection.js";
import type { EventSink, ProviderJobEvent, RunEvent } from "../types.js";

export interface NatsEventSinkParams {
  nc: NatsConnection;
  /** Log lines are batched per job: one message per this many ms or bytes, whichever comes first. */
  batchMs?: number;
  batchBytes?: number;
  /** Turns a state/phase event into the wire message (the market's signed JobEvent); JSON by default. */
  encodeEvent?: (event: Exclude<RunEvent, { kind: "log" }> | ProviderJobEvent) => Uint8Array | null;
  /** Names this provider in phase events' message ids (`<idPrefix>:<jobHash>:<phase>`), so a repeat is stored once. */
  idPrefix?: string;
  /** How long a phase event waits for the stream's ack. */
  ackTimeoutMs?: number;
}

export interface LogBatch {
  jobHash: string;
  /** [stream (1 stdout, 2 stderr), POSIX ms, line] */
  lines: Array<[1 | 2, number, string]>;
}

const encoder = new TextEncoder();

/**
 * Publishes a provider's observations to NATS: state changes on `ntx.jobs.<jobHash>.events` at once, log lines
 * on `ntx.jobs.<jobHash>.logs` in batches (one message per line would cap a flood at the message rate, and the
 * logs stream limits message size to 64 KiB). Log lines and run states are core publishes; a job's phase event is
 * a JetStream publish that resolves on the stream's ack (the daemon publishes it again until then, across
 * restarts), with a message id per provider, job and phase so that the stream stores a repeat once within its
 * duplicate window; after it, a repeat of a phase is a no-op for its readers (the last phase is the same).
 */
export class NatsEventSink implements EventSink {
  private readonly batches = new Map<string, { batch: LogBatch; bytes: number; timer: NodeJS.Timeout }>();
  private readonly batchMs: number;
  private readonly batchBytes: number;
  published = { events: 0, logMessages: 0, logLines: 0 };

  constructor(private readonly params: NatsEventSinkParams) {
    this.batchMs = params.batchMs ?? 50;
    this.batchBytes = Math.min(params.batchBytes ?? 32 * 1024, 48 * 1024);
  }

  publish(event: RunEvent | ProviderJobEvent): Promise<void> | void {
    if (event.kind === "log") {
      this.addLine(event.jobHash, event.stream === "stderr" ? 2 : 1, event.at, event.line);
      return;
    }
    // Flush a job's pending lines first, so a reader sees its logs before the state that ended them.
    this.flush(event.jobHash);
    const data = this.params.encodeEvent ? this.params.encodeEvent(event) : encoder.encode(JSON.stringify(event));
    if (data === null) return;
    this.published.events++;
    if (event.kind !== "job") {
      this.params.nc.publish(jobEventsSubject(event.jobHash), data);
      return;
    }
    const msgID = `${this.params.idPrefix ?? "provider"}:${event.jobHash}:${event.phase}`;
    return this.js.publish(jobEventsSubject(event.jobHash), data, { msgID, timeout: this.params.ackTimeoutMs ?? 5_000 }).then(() => undefined);
  }

  private get js() {
    this.jsClient ??= jetstream(this.params.nc);
    return this.jsClient;
  }
  private jsClient: ReturnType<typeof jetstream> | undefined;

  private addLine(jobHash: string, stream: 1 | 2, at: number, line: string): void {
    // JSON escaping can grow a line; bound it well under the stream's 64 KiB message limit.
    const text = line.length > 8192 ? line.slice(0, 8192) : line;
    let entry = this.batches.get(jobHash);
    if (!entry) {
      entry = { batch: { jobHash, lines: [] }, bytes: 0, timer: setTimeout(() => this.flush(jobHash), this.batchMs) };
      this.batches.set(jobHash, entry);
    }
    entry.batch.lines.push([stream, at, text]);
    entry.bytes += text.length * 2 + 24;
    if (entry.bytes >= this.batchBytes) this.flush(jobHash);
  }

  flush(jobHash?: string): void {
    for (const key of jobHash === undefined ? [...this.batches.keys()] : [jobHash]) {
      const entry = this.batches.get(key);
      if (!entry) continue;
      clearTimeout(entry.timer);
      this.batches.delete(key);
      this.params.nc.publish(jobLogsSubject(key), encoder.encode(JSON.stringify(entry.batch)));
      this.published.logMessages++;
      this.published.logLines += entry.batch.lines.length;
    }
  }

  /** Flushes pending lines and waits until the server has them. */
  async drain(): Promise<void> {
    this.flush();
    await this.params.nc.flush();
  }
}
