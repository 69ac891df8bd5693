// A provider daemon in its own process, for the kill test of job events (event-after-kill.test.ts): the real
// daemon, state file and NATS event sink, with the in-memory chain (seeded again on restart from the state file,
// as the chain would still hold the Completed escrow). Test hook, here only: NTX_TEST_DIE_BEFORE_EVENT=<phase>
// SIGKILLs this process when the daemon is about to publish that phase's event (its state is already stored).
import { connectNats, ensureMarketInfrastructure } from "../../src/nats/index.js";
import { ProviderDaemon } from "../../src/provider/daemon.js";
import { proofKeyFromHex } from "../../src/provider/keys.js";
import { jobEventEncoder } from "../../src/provider/market-loop.js";
import { NatsEventSink } from "../../src/provider/nats/event-sink.js";
import { NoopRunner } from "../../src/provider/noop/noop-runner.js";
import { JobPhase, JobStateStore } from "../../src/provider/state-store.js";
import type { EventSink } from "../../src/provider/types.js";
import { FakeEscrow } from "./fake-escrow.js";

const PAYOUT = "addr_test1vz0provider0payout0address0for0tests0only0000000000000";
const HOUR = 3_600_000;
const [natsUrl, stateDir, jobHash] = process.argv.slice(2) as [string, string, string];
const proofKey = proofKeyFromHex(process.env.NTX_TEST_PROOF_KEY!);
const dieBefore = process.env.NTX_TEST_DIE_BEFORE_EVENT;

const nc = await connectNats({ servers: natsUrl, name: "announcing-provider" });
await ensureMarketInfrastructure(nc);
const store = await JobStateStore.open(stateDir);
const chain = new FakeEscrow();
const sink = new NatsEventSink({ nc, encodeEvent: jobEventEncoder(proofKey), idPrefix: proofKey.providerId });
const events: EventSink = {
  publish(event) {
    if (dieBefore && event.kind === "job" && event.phase === dieBefore) process.kill(process.pid, "SIGKILL");
    return sink.publish(event);
  },
};
const escrowTerms = { payout: PAYOUT, proofKey: proofKey.providerId, amount: 500n, ntxInValue: 500n, challengeWindow: HOUR };
const known = store.get(jobHash);
if (known?.observed.phase === JobPhase.Completed && known.observed.escrow && known.observed.result) {
  const ref = known.observed.escrow;
  chain.utxos.set(`${ref.txHash}#${ref.outputIndex}`, { ...escrowTerms, jobHash, arbiter: null, lovelace: 3_000_000n, minLovelace: 2_000_000n, deadline: chain.time + 2 * HOUR, outRef: ref, state: { kind: "completed", resultHash: known.observed.result.resultHash, completedAt: chain.time } });
}
const daemon = new ProviderDaemon({ runner: new NoopRunner(), gateway: chain, store, proofKey, payoutAddress: PAYOUT, events, completeMarginMs: 1000, onError: (error) => process.stderr.write(`provider error: ${String(error)}\n`) });
if (!known) {
  const request = { jobHash, image: "ntx-test/busybox:1", command: ["echo", "hi"], env: {}, resources: { cpuCores: 1, memoryMiB: 64, pids: 64, gpus: 0 }, limits: { timeoutMs: 60_000, workDirBytes: 1 << 20, outputBytes: 1 << 20, logBytes: 1 << 20 } };
  await daemon.accept({ request, price: 500n, deadline: chain.time + 2 * HOUR, bidTerms: { challengeWindowMs: HOUR } });
  chain.lock({ ...escrowTerms, jobHash, deadline: chain.time + 2 * HOUR });
}
daemon.start(200);
process.stdout.write("ready\n");
