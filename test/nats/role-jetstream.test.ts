/**
 * Each role's JetStream API calls, made as an attacker would: raw requests to `$JS.API.*` and raw acks, logged
 * in as that role under the shipped permissions. Nothing here goes through the project's transport.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, ensureMarketInfrastructure } from "../../src/nats/index.js";
import { ROLE_PASSWORDS, startNatsServerWithRoles, type NatsRole, type NatsServer } from "../helpers/nats.js";

const passwords = ROLE_PASSWORDS;
type Role = NatsRole;
let server: NatsServer;
const connections: NatsConnection[] = [];
const DURABLE = "ntx-matcher";

async function login(role: Role): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user: role, pass: passwords[role], name: `raw-${role}` });
  connections.push(nc);
  return nc;
}

/** "allowed" with the server's JSON reply, or the refusal's text. */
async function call(nc: NatsConnection, subject: string, body: unknown = ""): Promise<string> {
  try {
    const reply = await nc.request(subject, typeof body === "string" ? body : JSON.stringify(body), { timeout: 3_000 });
    const text = reply.string();
    return text.includes('"error"') ? `error ${text}` : "allowed";
  } catch (error) {
    return `refused ${(error as Error).message}`;
  }
}

beforeAll(async () => {
  server = await startNatsServerWithRoles();
  const nc = await connectNats({ servers: server.url, user: "matcher", pass: passwords.matcher });
  connections.push(nc);
  await ensureMarketInfrastructure(nc);
  // The matcher's durable, as the matcher makes it.
  expect(await call(nc, `$JS.API.CONSUMER.DURABLE.CREATE.NTX_BIDS.${DURABLE}`, { stream_name: "NTX_BIDS", config: { durable_name: DURABLE, ack_policy: "explicit" } })).toBe("allowed");
});
afterAll(async () => {
  for (const c of connections) await c.close().catch(() => undefined);
  await server?.stop();
});

const attacks: Array<[string, string, unknown?]> = [
  ["read the matcher's consumer (pull bids)", `$JS.API.CONSUMER.MSG.NEXT.NTX_BIDS.${DURABLE}`, { batch: 10, expires: 1_000_000_000 }],
  ["inspect the matcher's consumer", `$JS.API.CONSUMER.INFO.NTX_BIDS.${DURABLE}`],
  ["reconfigure the matcher's consumer", `$JS.API.CONSUMER.CREATE.NTX_BIDS.${DURABLE}`, { stream_name: "NTX_BIDS", config: { durable_name: DURABLE, ack_policy: "none" } }],
  ["reconfigure it through the durable form", `$JS.API.CONSUMER.DURABLE.CREATE.NTX_BIDS.${DURABLE}`, { stream_name: "NTX_BIDS", config: { durable_name: DURABLE, max_ack_pending: 1 } }],
  ["delete the matcher's consumer", `$JS.API.CONSUMER.DELETE.NTX_BIDS.${DURABLE}`],
  ["make another consumer of the bids", "$JS.API.CONSUMER.CREATE.NTX_BIDS", { stream_name: "NTX_BIDS", config: { ack_policy: "explicit", deliver_policy: "all" } }],
  ["list the bids' consumers", "$JS.API.CONSUMER.LIST.NTX_BIDS", {}],
  ["ack a bid for the matcher", `$JS.ACK.NTX_BIDS.${DURABLE}.1.1.1.1700000000000000000.0`, "+ACK"],
  ["change the bids stream", "$JS.API.STREAM.UPDATE.NTX_BIDS", { name: "NTX_BIDS", subjects: ["ntx.bids.*"], max_msgs: 1 }],
  ["delete the bids stream", "$JS.API.STREAM.DELETE.NTX_BIDS"],
  ["purge the offers stream", "$JS.API.STREAM.PURGE.NTX_OFFERS", {}],
  ["delete a stored match", "$JS.API.STREAM.MSG.DELETE.NTX_MATCHES", { seq: 1 }],
  ["create a stream of its own", "$JS.API.STREAM.CREATE.EVIL", { name: "EVIL", subjects: ["evil.>"] }],
  ["make a durable anywhere", "$JS.API.CONSUMER.DURABLE.CREATE.NTX_MATCHES.evil", { stream_name: "NTX_MATCHES", config: { durable_name: "evil", ack_policy: "explicit" } }],
  ["write the verified offer book", "$KV.ntx-offer-book.eu.02ab", "{}"],
  ["write a capacity record", "$KV.ntx-capacity.02ab", "{}"],
  ["park a bid", `ntx.parked.${"ab".repeat(32)}`, "{}"],
];

describe("each role's JetStream API, called raw under the shipped permissions", () => {
  for (const role of ["provider", "buyer", "api"] as const) {
    it(`${role}: every call that could censor bids, reconfigure the market or forge its state is refused`, async () => {
      const nc = await login(role);
      for (const [what, subject, body] of attacks) expect(`${what}: ${await call(nc, subject, body)}`).toMatch(new RegExp(`^${what.replace(/[()]/g, ".")}: refused .*[Pp]ermission`));
      // What the role does need still works: stream info, reading a stream by an ordered (ephemeral) consumer.
      expect(await call(nc, "$JS.API.STREAM.INFO.NTX_MATCHES")).toBe("allowed");
      expect(await call(nc, "$JS.API.CONSUMER.CREATE.NTX_MATCHES", { stream_name: "NTX_MATCHES", config: { ack_policy: "none", deliver_policy: "all", inactive_threshold: 5_000_000_000, deliver_subject: `_INBOX.${role}` } })).toBe("allowed");
    });
  }

  it("matcher: may use the bids consumer (the positive control for the refusals above)", async () => {
    const nc = await login("matcher");
    expect(await call(nc, `$JS.API.CONSUMER.INFO.NTX_BIDS.${DURABLE}`)).toBe("allowed");
    expect(await call(nc, "$JS.API.STREAM.DELETE.NTX_BIDS")).toMatch(/^refused .*[Pp]ermission/);
  });
});
