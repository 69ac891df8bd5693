/**
 * Finding 3 of the fault suite (docs/RELIABILITY.md): a provider SIGKILLed between storing a phase and publishing
 * its job event never published it, so no follower (the API's phase view, the buyer's page, the matcher's
 * reservation release) saw the job complete. Here a real provider process is SIGKILLed right after its state file
 * says `completed` and before the event is out, then started again on the same state; the test reads the events
 * stream with its own NATS connection, decoding each message as a follower does (signature checked).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeJobEvent } from "../../src/market/decode.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

const runnerFile = fileURLToPath(new URL("./run-announcing-provider.ts", import.meta.url));
let server: NatsServer;
let nc: NatsConnection;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, name: "follower" });
  dir = await mkdtemp(join(tmpdir(), "ntx-faults-announce-"));
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the provider process; resolves with how it ended (by itself, or stopped once `until` holds). */
function runProvider(args: string[], env: Record<string, string>, until?: () => Promise<boolean>): Promise<{ signal: NodeJS.Signals | null; code: number | null }> {
  const child = spawn(process.execPath, ["--import", "tsx", runnerFile, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  const ended = new Promise<{ signal: NodeJS.Signals | null; code: number | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  if (until) {
    const deadline = Date.now() + 120_000;
    void (async () => {
      while (child.exitCode === null && child.signalCode === null && Date.now() < deadline && !(await until())) await new Promise((r) => setTimeout(r, 200));
      child.kill("SIGKILL");
    })();
  } else {
    setTimeout(() => child.kill("SIGKILL"), 120_000).unref();
  }
  return ended;
}

/** Every event stored for the job, oldest first, read as the API's feed reads them (raw stream-message gets by subject). */
async function storedEvents(jobHash: string): Promise<Array<{ kind: string; providerId: string }>> {
  const out: Array<{ kind: string; providerId: string }> = [];
  for (let seq = 1; ; ) {
    const reply = await nc.request("$JS.API.STREAM.MSG.GET.NTX_JOB_EVENTS", JSON.stringify({ seq, next_by_subj: `ntx.jobs.${jobHash}.events` }), { timeout: 10_000 });
    const m = reply.json<{ message?: { seq: number; data?: string } }>().message;
    if (!m) break;
    const decoded = decodeJobEvent(Buffer.from(m.data ?? "", "base64"));
    if (decoded.ok) out.push({ kind: decoded.value.kind, providerId: decoded.value.providerId });
    seq = m.seq + 1;
  }
  return out;
}

describe("a provider SIGKILLed after storing `completed`, before its event is out", () => {
  it("publishes the `completed` event once it is started again", { timeout: 300_000 }, async () => {
    const keyHex = randomBytes(32).toString("hex");
    const providerId = proofKeyFromHex(keyHex).providerId;
    const jobHash = randomBytes(32).toString("hex");
    const args = [server.url, dir, jobHash];

    const first = await runProvider(args, { NTX_TEST_PROOF_KEY: keyHex, NTX_TEST_DIE_BEFORE_EVENT: "completed" });
    expect(first.signal).toBe("SIGKILL");
    const state = JSON.parse(await readFile(join(dir, "jobs.json"), "utf8")) as { jobs: Record<string, { observed: { phase: string; announced?: string } }> };
    expect(state.jobs[jobHash]!.observed.phase).toBe("completed");
    const before = await storedEvents(jobHash);
    expect(before.map((e) => e.kind)).not.toContain("completed");
    expect(before.map((e) => e.kind)).toContain("output");

    let after: Array<{ kind: string; providerId: string }> = [];
    await runProvider(args, { NTX_TEST_PROOF_KEY: keyHex }, async () => {
      after = await storedEvents(jobHash);
      return after.some((e) => e.kind === "completed");
    });
    const completed = after.filter((e) => e.kind === "completed");
    expect(completed).toEqual([{ kind: "completed", providerId }]);
    expect(after.at(-1)!.kind).toBe("completed");
  });
});
