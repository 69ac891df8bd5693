import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, type NatsConnection } from "../../src/nats/connection.js";
import { openResultStore } from "../../src/nats/setup.js";
import { jobEventsSubject, jobLogsSubject } from "../../src/nats/subjects.js";
import { DockerRunner } from "../../src/provider/docker/index.js";
import { NatsEventSink, type LogBatch } from "../../src/provider/nats/event-sink.js";
import { createNatsResultStore } from "../../src/provider/nats/result-store.js";
import { blake2b256Hex } from "../../src/crypto/sodium.js";
import { dockerTestRun, ensureDocker, TEST_IMAGE } from "../helpers/docker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

const MiB = 1024 * 1024;
let server: NatsServer;
let nc: NatsConnection;
const testRun = dockerTestRun();

beforeAll(async () => {
  await ensureDocker();
  server = await startNatsServer();
  nc = await connectNats({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await testRun.cleanup();
});

describe("provider → NATS", () => {
  it("streams a job's logs and states in order, and stores its result where the hash can be checked", async () => {
    const jobHash = randomBytes(32).toString("hex");
    const lines: string[] = [];
    const events: Array<{ state?: string; phase?: string }> = [];
    const decoder = new TextDecoder();
    nc.subscribe(jobLogsSubject(jobHash), { callback: (_e, m) => { for (const [, , l] of (JSON.parse(decoder.decode(m.data)) as LogBatch).lines) lines.push(l); } });
    nc.subscribe(jobEventsSubject(jobHash), { callback: (_e, m) => { events.push(JSON.parse(decoder.decode(m.data))); } });
    await nc.flush();

    const sink = new NatsEventSink({ nc });
    const runner = new DockerRunner({ allowImages: [TEST_IMAGE], labels: testRun.labels });
    const result = await runner.run(
      {
        jobHash,
        image: TEST_IMAGE,
        command: ["sh", "-c", "seq 1 20000; seq 1 1000 > /out/numbers"],
        resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 },
        limits: { timeoutMs: 60_000, workDirBytes: MiB, outputBytes: MiB, logBytes: 4 * MiB },
      },
      { onEvent: (e) => sink.publish(e) },
    );
    await sink.drain();
    const location = await createNatsResultStore(nc).put(jobHash, result.outputs.archiveFile);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));

    expect(lines).toHaveLength(20000);
    expect(lines[0]).toBe("1");
    expect(lines[19999]).toBe("20000");
    expect(sink.published.logMessages).toBeLessThan(2000);
    expect(events.map((e) => e.state)).toEqual(["preparing", "running", "collecting", "finished"]);

    expect(location).toBe(`nats-obj://ntx-results/${jobHash}`);
    const stored = await (await openResultStore(nc)).getBlob(jobHash);
    expect(stored).not.toBeNull();
    expect(blake2b256Hex(stored!)).toBe(result.outputs.resultHash);
  });
});
