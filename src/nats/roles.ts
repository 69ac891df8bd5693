/**
 * NATS role users for a local server (`ntx up`): one generated password per role, kept in the state folder
 * (mode 0600), and the shipped permissions (config/nats/permissions.conf) as the server's config. Passwords go
 * to nats-server through its environment, as the shipped config expects, and to each component inside its
 * server URL (`nats://role:password@host:port`), which connectNats reads.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";

export const NATS_ROLES = ["provider", "buyer", "matcher", "api"] as const;
export type NatsRoleName = (typeof NATS_ROLES)[number];

const Passwords = z.object(Object.fromEntries(NATS_ROLES.map((r) => [r, z.string().regex(/^ntx[0-9a-f]{48}$/)])) as Record<NatsRoleName, z.ZodString>).strict();

const PERMISSIONS_FILE = new URL("../../config/nats/permissions.conf", import.meta.url);

export interface NatsRoles {
  /** The server config (users and permissions); the passwords are not in it. */
  configFile: string;
  /** Environment nats-server needs to resolve the passwords of that config. */
  serverEnv: Record<string, string>;
  /** A server URL carrying a role's credentials. */
  urlFor(role: NatsRoleName, url: string): string;
}

/**
 * Reads the role passwords from `<dir>/nats-users.json`, making them on first use. A file others can read is
 * refused, as key files are. `writeSecret` creates a file with mode 0600 (and fails if it exists).
 */
export async function prepareNatsRoles(dir: string, writeSecret: (path: string, content: string) => Promise<void>): Promise<NatsRoles> {
  const file = join(dir, "nats-users.json");
  let passwords: Record<NatsRoleName, string>;
  const mode = await stat(file).then((s) => s.mode, () => undefined);
  if (mode === undefined) {
    // A letter first: nats-server parses an environment variable's value as config, and would read "7e3…" as a number.
    passwords = Object.fromEntries(NATS_ROLES.map((r) => [r, `ntx${randomBytes(24).toString("hex")}`])) as Record<NatsRoleName, string>;
    await writeSecret(file, JSON.stringify(passwords));
  } else {
    if ((mode & 0o077) !== 0) throw new NtxError("NATS_SECRET_MODE", `${file} can be read by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
    const parsed = Passwords.safeParse(JSON.parse(await readFile(file, "utf8").catch(() => "null")) as unknown);
    if (!parsed.success) throw new NtxError("NATS_SECRET_INVALID", `${file} does not hold the four role passwords; remove it to make new ones`);
    passwords = parsed.data as Record<NatsRoleName, string>;
  }
  const configFile = join(dir, "nats.conf");
  await writeFile(configFile, await readFile(PERMISSIONS_FILE, "utf8"), { mode: 0o600 });
  return {
    configFile,
    serverEnv: Object.fromEntries(NATS_ROLES.map((r) => [`NTX_NATS_${r.toUpperCase()}_PASSWORD`, passwords[r]])),
    urlFor(role, url) {
      const u = new URL(url);
      u.username = role;
      u.password = passwords[role];
      return u.toString().replace(/\/$/, "");
    },
  };
}

/** Splits credentials out of a server URL (`nats://user:pass@host:port`): the client takes them separately. */
export function credentialsOf(server: string): { server: string; user?: string; pass?: string } {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    return { server };
  }
  if (!u.username) return { server };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return { server: u.toString().replace(/\/$/, ""), user, pass };
}
