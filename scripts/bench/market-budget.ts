/**
 * `bench:market --phases=budget`: what one matched bid must cost before any matching, measured in the same run as
 * the bare verification it is compared with. Issue #9's floor (sustained bids/s ≥ 0.30 × bare libsodium
 * verification on the same threads) is a CPU budget: on a machine whose cores all verify in the baseline, a bid
 * may cost at most 1/0.30 ≈ 3.3 verifications of CPU, everything included. This phase prices the parts no
 * matcher design that keeps the product's guarantees can skip:
 *
 *  - JetStream I/O: the bid delivered by a pull consumer and acked, and one match stored with a publish whose
 *    ack is awaited (the per-job expected-sequence check that stops double matches needs that ack). Raw
 *    nats.js, no market code; publishes go out as the matcher's do (one reply subscription, no per-request
 *    timer), which is the cheapest way nats.js offers. Client and nats-server CPU per bid.
 *  - The bid's whole check on one thread (size, JSON, schema, jobHash, digest, COSE, signature) beside bare
 *    verification of the same signatures on the same thread: its cost above the verification.
 *
 * The ceiling is the ratio those parts alone would allow if matching, capacity and hand-over between threads
 * cost nothing: bare verification CPU / (bare verification + check above it + JetStream I/O).
 */
import { readFileSync } from "node:fs";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, createInbox } from "@nats-io/transport-node";
import { decodeBidTerms } from "../../src/market/decode.js";
import { parseCoseSign1, sigStructure } from "../../src/market/cose.js";
import { ed25519Verify } from "../../src/crypto/sodium.js";
import type { BidInput } from "../../src/market/schemas.js";
import { startNatsServer } from "../../test/helpers/nats.js";

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU µs per call of `fn` on this thread, the best of 5 passes over `count` calls (after a warm-up pass). */
function cpuMicros(count: number, fn: (i: number) => unknown): number {
  let best = Infinity;
  for (let pass = 0; pass < 6; pass++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < count; i++) fn(i);
    const used = process.cpuUsage(t0);
    if (pass > 0) best = Math.min(best, (used.user + used.system) / count);
  }
  return best;
}

/** Pull + ack + one awaited publish per message, on a fresh nats-server: client and server CPU µs per message. */
async function jetStreamIoPerBid(messages: number, bidBytes: number, matchBytes: number) {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, name: "bench-budget" });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "BUDGET_BIDS", subjects: ["budget.bids.>"] });
    await jsm.streams.add({ name: "BUDGET_MATCHES", subjects: ["budget.matches.>"] });
    const js = jetstream(nc);
    const bid = new Uint8Array(bidBytes).fill(0x61);
    for (let i = 0; i < messages; i += 1_000) await Promise.all(Array.from({ length: Math.min(1_000, messages - i) }, (_, j) => js.publish(`budget.bids.${i + j}`, bid)));
    await jsm.consumers.add("BUDGET_BIDS", { durable_name: "budget", ack_policy: AckPolicy.Explicit, max_ack_pending: messages });
    const consumer = await js.consumers.get("BUDGET_BIDS", "budget");
    const match = new Uint8Array(matchBytes).fill(0x62);
    const prefix = createInbox();
    const waiting = new Map<number, () => void>();
    let nextId = 1;
    nc.subscribe(`${prefix}.*`, {
      callback: (_error, m) => {
        const id = Number(m.subject.slice(prefix.length + 1));
        const done = waiting.get(id);
        if (!done) return;
        waiting.delete(id);
        JSON.parse(new TextDecoder().decode(m.data));
        done();
      },
    });
    let stored = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const client0 = process.cpuUsage();
    const server0 = cpuSeconds(server.pid);
    const iterator = await consumer.consume({
      max_messages: 256,
      callback: (m) => {
        const id = nextId++;
        waiting.set(id, () => {
          m.ack();
          if (++stored === messages) finish();
        });
        nc.publish(`budget.matches.${m.seq}`, match, { reply: `${prefix}.${id}` });
      },
    });
    const timeout = setTimeout(finish, 300_000);
    await finished;
    clearTimeout(timeout);
    const client = process.cpuUsage(client0);
    const serverCpu = cpuSeconds(server.pid) - server0;
    await iterator.close();
    return { messages: stored, clientCpuMicros: round((client.user + client.system) / stored), natsServerCpuMicros: round((serverCpu * 1e6) / stored) };
  } finally {
    await nc.close().catch(() => undefined);
    await server.stop();
  }
}

export async function budgetPhase(bids: Uint8Array[]) {
  const now = Date.now();
  const parsed = bids.map((b) => JSON.parse(new TextDecoder().decode(b)) as BidInput);
  const items = parsed.map((bid) => {
    const cose = parseCoseSign1(Buffer.from(bid.signature.signature, "hex"));
    return { data: sigStructure(cose.protectedBytes, cose.payload), sig: cose.signature, key: Buffer.from(bid.buyer.key, "hex") };
  });
  const at = <T>(xs: T[], i: number) => xs[i % xs.length]!;
  // Interleaved so a change in the machine's load hits both alike.
  const verify = [cpuMicros(2_000, (i) => ed25519Verify(at(items, i).sig, at(items, i).data, at(items, i).key))];
  const check = [cpuMicros(2_000, (i) => decodeBidTerms(at(bids, i), { now }))];
  verify.push(cpuMicros(2_000, (i) => ed25519Verify(at(items, i).sig, at(items, i).data, at(items, i).key)));
  check.push(cpuMicros(2_000, (i) => decodeBidTerms(at(bids, i), { now })));
  const bareVerify = Math.min(...verify);
  const wholeCheck = Math.min(...check);
  const io = await jetStreamIoPerBid(20_000, bids[0]!.length, 2 * bids[0]!.length + 900);
  const ioCpu = io.clientCpuMicros + io.natsServerCpuMicros;
  const checkAbove = Math.max(0, wholeCheck - bareVerify);
  return {
    note: "CPU µs per bid of what no matcher can skip; ceiling = the ratio to bare verification those parts alone allow",
    bareVerifyCpuMicros: round(bareVerify),
    wholeBidCheckCpuMicros: round(wholeCheck),
    checkAboveVerifyCpuMicros: round(checkAbove),
    jetStreamIo: io,
    ceilingRatioIoOnly: round(bareVerify / (bareVerify + ioCpu), 3),
    ceilingRatioIoAndCheck: round(bareVerify / (bareVerify + checkAbove + ioCpu), 3),
    floor: 0.3,
  };
}
