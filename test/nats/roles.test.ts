/**
 * `ntx up`'s NATS role users: passwords generated into the state folder with mode 0600 (and refused when others
 * can read them), a nats-server started on the generated config, and each component logging in with the
 * credentials in its URL. Providers and the API cannot create streams, so they open what the matcher set up.
 */
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNtxError } from "../../offchain/errors.js";
import { writeSecretFile } from "../../src/provider/keys.js";
import { connectNats, createNatsMarketTransport, ensureMarketInfrastructure, prepareNatsRoles, type NatsConnection, type NatsRoles } from "../../src/nats/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats.js";

let dir: string;
let roles: NatsRoles;
let server: NatsServer;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ntx-roles-"));
  roles = await prepareNatsRoles(dir, writeSecretFile);
  Object.assign(process.env, roles.serverEnv);
  server = await startNatsServer({ configFile: roles.configFile });
});
afterAll(async () => {
  for (const c of connections) await c.close().catch(() => undefined);
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("ntx up's NATS role users", () => {
  it("keeps the generated passwords in a 0600 file, reuses them, and refuses the file once others can read it", async () => {
    const file = join(dir, "nats-users.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const before = await readFile(file, "utf8");
    const again = await prepareNatsRoles(dir, writeSecretFile);
    expect(await readFile(file, "utf8")).toBe(before);
    expect(again.serverEnv).toEqual(roles.serverEnv);
    expect(new Set(Object.values(roles.serverEnv)).size).toBe(4);
    await chmod(file, 0o644);
    const refused = await prepareNatsRoles(dir, writeSecretFile).catch((e: unknown) => e);
    expect(isNtxError(refused, "NATS_SECRET_MODE")).toBe(true);
    await chmod(file, 0o600);
  });

  it("lets each component in with its own URL, the matcher set the market up and the others open it; no user, or a wrong password, is refused", async () => {
    const as = async (role: "matcher" | "provider" | "api") => {
      const nc = await connectNats({ servers: roles.urlFor(role, server.url), name: role });
      connections.push(nc);
      return nc;
    };
    await ensureMarketInfrastructure(await as("matcher"));
    for (const role of ["provider", "api"] as const) {
      const t = await createNatsMarketTransport(await as(role));
      await t.close();
    }
    const anonymous = await connectNats({ servers: server.url }).catch((e: unknown) => e);
    expect(isNtxError(anonymous, "NATS_AUTH")).toBe(true);
    const wrong = await connectNats({ servers: server.url.replace("nats://", "nats://matcher:nope@") }).catch((e: unknown) => e);
    expect(isNtxError(wrong, "NATS_AUTH")).toBe(true);
  });
});
