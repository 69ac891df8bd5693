/**
 * Compare-and-set of the capacity records on a real 3-node cluster, tried from outside the project's code as
 * well: many writers update one key on the same revision at the same moment, from connections to different
 * nodes. nats-server 2.9.10 checks a key's expected sequence on a replicated stream before proposing, so a raw
 * client sees several of them stored (reported, not asserted: the server's behaviour, not ours). Through the
 * market transport exactly one write per round may be stored, and the key's history shows it.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection as RawConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectNats, createNatsMarketTransport, ensureMarketInfrastructure, type NatsConnection, type NatsMarketTransport } from "../../src/nats/index.js";
import type { Watch } from "../../src/market/transport.js";
import { startNatsCluster, type NatsCluster } from "../helpers/nats-cluster.js";

const ROUNDS = 20;
const WRITERS_PER_NODE = 2;

let cluster: NatsCluster;
const conns: NatsConnection[] = [];
const raws: RawConnection[] = [];
const transports: NatsMarketTransport[] = [];
const watches: Watch[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 });
  const admin = await connectNats({ servers: cluster.url, name: "cas-admin", timeoutMs: 10_000 });
  conns.push(admin);
  await ensureMarketInfrastructure(admin);
  await cluster.waitForStreamsCurrent(["KV_ntx-capacity"], 3, 60_000);
  for (const url of cluster.urls) {
    for (let i = 0; i < WRITERS_PER_NODE; i++) {
      const nc = await connectNats({ servers: url, name: `cas-${url}-${i}`, timeoutMs: 10_000 });
      conns.push(nc);
      const t = await createNatsMarketTransport(nc);
      transports.push(t);
      // The matcher watches the capacity bucket; its writes rely on it.
      const w = await t.capacity.watch(() => undefined);
      await w.ready;
      watches.push(w);
    }
  }
}, 120_000);

afterAll(async () => {
  for (const w of watches) await w.stop().catch(() => undefined);
  for (const t of transports) await t.close().catch(() => undefined);
  for (const c of [...conns, ...raws]) await c.close().catch(() => undefined);
  await cluster?.stop();
}, 60_000);

it("a raw client's concurrent updates on one revision (the server's own check, reported)", async () => {
  const ncs = await Promise.all(cluster.urls.map((u) => connect({ servers: u })));
  raws.push(...ncs);
  const jss = ncs.map((nc) => jetstream(nc));
  let roundsWithMany = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const subject = `$KV.ntx-capacity.raw-${round}`;
    const first = await jss[0]!.publish(subject, "x");
    const stored = await Promise.all(jss.flatMap((js) => Array.from({ length: WRITERS_PER_NODE }, () => js.publish(subject, "y", { expect: { lastSubjectSequence: first.seq } }).then(() => 1, () => 0))));
    if (stored.reduce((a: number, b: number) => a + b, 0) > 1) roundsWithMany++;
  }
  console.log(JSON.stringify({ rawRoundsWithMoreThanOneStored: roundsWithMany, rounds: ROUNDS }));
}, 120_000);

it("through the market transport, one of concurrent updates on one revision is stored, every round", async () => {
  const raw = await connect({ servers: cluster.urls });
  raws.push(raw);
  const jsm = await jetstreamManager(raw);
  for (let round = 0; round < ROUNDS; round++) {
    const key = `p-${round}`;
    const revision = await transports[0]!.capacity.create(key, new TextEncoder().encode("base"));
    const outcomes = await Promise.all(
      transports.map((t, i) =>
        t.capacity.update(key, new TextEncoder().encode(`writer-${i}`), revision).then(
          (seq) => ({ ok: true as const, seq, i }),
          (error: unknown) => ({ ok: false as const, code: (error as { code?: string }).code ?? String(error), i }),
        ),
      ),
    );
    const stored = outcomes.filter((o) => o.ok);
    expect(stored.length, JSON.stringify(outcomes)).toBe(1);
    // Every other writer was told of the conflict (not some other failure), and the key holds the winner's value.
    for (const o of outcomes) if (!o.ok) expect(o.code).toBe("KV_CONFLICT");
    const last = await jsm.streams.getMessage("KV_ntx-capacity", { last_by_subj: `$KV.ntx-capacity.${key}` });
    expect(last).not.toBeNull();
    expect(new TextDecoder().decode(last!.data)).toBe(`writer-${stored[0]!.i}`);
    expect(last!.seq).toBe(stored[0]!.seq);
  }
}, 180_000);

it("through the market transport, one of concurrent claims of a job's attempt is stored, every round", async () => {
  const raw = await connect({ servers: cluster.urls });
  raws.push(raw);
  const jsm = await jetstreamManager(raw);
  for (let round = 0; round < ROUNDS; round++) {
    const jobHash = round.toString(16).padStart(2, "0").repeat(32);
    const outcomes = await Promise.all(
      transports.map((t, i) =>
        t.publishMatch(jobHash, new TextEncoder().encode(`{"matcherId":"m${i}"}`), { matchId: `${jobHash}-1`, bidSeq: 1, expectedLastSeq: 0 }).then(
          (seq) => ({ ok: true as const, seq, i }),
          (error: unknown) => ({ ok: false as const, code: (error as { code?: string }).code ?? String(error), i }),
        ),
      ),
    );
    const stored = outcomes.filter((o) => o.ok);
    expect(stored.length, JSON.stringify(outcomes)).toBe(1);
    for (const o of outcomes) if (!o.ok) expect(o.code).toBe("MATCH_EXISTS");
    const info = await jsm.streams.info("NTX_MATCHES", { subjects_filter: `ntx.matches.${jobHash}` });
    expect(info.state.subjects?.[`ntx.matches.${jobHash}`], JSON.stringify(outcomes)).toBe(1);
  }
}, 180_000);
