import { NtxError, isNtxError } from "../../../offchain/errors.js";
import { providerSecretsSubject } from "../../nats/subjects.js";
import type { NatsConnection } from "../../nats/connection.js";
import { openSealed } from "../../pool/seal.js";
import type { ProofKey } from "../keys.js";

/**
 * Receives sealed block-producer keys on `ntx.providers.<id>.secrets` (request/reply, so the operator's CLI
 * learns at once whether they opened). A bundle is opened only for a job this provider runs, only if the job's
 * buyer signed it, only into memory, and handed to `onSecrets` (which writes it to the service's tmpfs). What is
 * kept on disk is the sealed bundle, for restarts. Nothing of a bundle's content is ever logged: errors carry a
 * code and a fixed sentence.
 */

export interface SecretTarget {
  buyerKey: string;
  names: readonly string[];
}

export interface SecretInboxParams {
  nc: NatsConnection;
  proofKey: ProofKey;
  /** The running service job a bundle is for, or undefined. */
  lookup(jobHash: string): SecretTarget | undefined;
  onSecrets(jobHash: string, files: Record<string, Uint8Array>, sealedAt: number): Promise<void>;
  /** Keeps the sealed bundle (it stays sealed) so a restarted provider can open it again. */
  keepSealed?(jobHash: string, bundle: unknown): Promise<void>;
  maxBytes?: number;
  onError?(code: string, jobHash?: string): void;
}

export type SecretReply = { ok: true; jobHash: string } | { ok: false; code: string; message: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SecretInbox {
  readonly counters = { opened: 0, refused: 0, stale: 0 };
  private readonly newest = new Map<string, number>();
  private sub?: { unsubscribe(): void };

  constructor(private readonly params: SecretInboxParams) {}

  /** Subscribes; resolves once the server has the subscription (a request sent after this finds a responder). */
  async start(): Promise<void> {
    const maxBytes = this.params.maxBytes ?? 600 * 1024;
    this.sub = this.params.nc.subscribe(providerSecretsSubject(this.params.proofKey.providerId), {
      callback: (error, msg) => {
        if (error) return;
        const reply = (r: SecretReply) => { if (msg.reply) this.params.nc.publish(msg.reply, encoder.encode(JSON.stringify(r))); };
        if (msg.data.length > maxBytes) { this.counters.refused++; reply({ ok: false, code: "SEAL_TOO_LARGE", message: "bundle too large" }); return; }
        this.handle(msg.data).then(reply, () => reply({ ok: false, code: "SECRETS_FAILED", message: "the provider could not take the keys" }));
      },
    });
    await this.params.nc.flush();
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  /** Opens one bundle (also used at start-up for the sealed bundles kept on disk). */
  async handle(data: Uint8Array | unknown): Promise<SecretReply> {
    let bundle: { jobHash?: unknown } | undefined;
    try {
      bundle = data instanceof Uint8Array ? (JSON.parse(decoder.decode(data)) as { jobHash?: unknown }) : (data as { jobHash?: unknown });
    } catch {
      return this.refuse("SEAL_INVALID", "not JSON");
    }
    const jobHash = typeof bundle?.jobHash === "string" ? bundle.jobHash : "";
    const target = this.params.lookup(jobHash);
    if (!target) return this.refuse("SECRETS_UNKNOWN_JOB", "this provider runs no such service job", jobHash);
    let opened: { files: Record<string, Uint8Array>; sealedAt: number };
    try {
      opened = openSealed(bundle, { providerPrivateKey: this.params.proofKey.privateKey, providerId: this.params.proofKey.providerId, jobHash, buyerKey: target.buyerKey, names: target.names });
    } catch (error) {
      const code = isNtxError(error) ? error.code : "SEAL_INVALID";
      return this.refuse(code, isNtxError(error) ? error.message : "the bundle does not open", jobHash);
    }
    // A replayed older bundle (older KES key) must not roll a rotation back.
    if ((this.newest.get(jobHash) ?? -1) >= opened.sealedAt) {
      this.counters.stale++;
      for (const f of Object.values(opened.files)) f.fill(0);
      return { ok: false, code: "SEAL_STALE", message: "a newer bundle is already in use" };
    }
    try {
      await this.params.onSecrets(jobHash, opened.files, opened.sealedAt);
      this.newest.set(jobHash, opened.sealedAt);
      await this.params.keepSealed?.(jobHash, bundle);
    } finally {
      for (const f of Object.values(opened.files)) f.fill(0);
    }
    this.counters.opened++;
    return { ok: true, jobHash };
  }

  private refuse(code: string, message: string, jobHash?: string): SecretReply {
    this.counters.refused++;
    this.params.onError?.(code, jobHash);
    return { ok: false, code, message };
  }
}

/** The operator's side: sends a sealed bundle and waits for the provider's answer. */
export async function deliverSealed(nc: NatsConnection, providerId: string, bundle: unknown, timeoutMs = 15_000): Promise<SecretReply> {
  let answer;
  try {
    answer = await nc.request(providerSecretsSubject(providerId), encoder.encode(JSON.stringify(bundle)), { timeout: timeoutMs });
  } catch (error) {
    const none = /no responders/i.test(String((error as Error)?.message ?? error));
    throw new NtxError("SECRETS_NOT_DELIVERED", none ? `provider ${providerId.slice(0, 12)}… is not listening for keys (offline, or not this provider)` : `the provider did not answer within ${timeoutMs} ms`, { retryable: true, cause: error });
  }
  try {
    const reply = JSON.parse(decoder.decode(answer.data)) as SecretReply;
    if (typeof reply !== "object" || reply === null || typeof reply.ok !== "boolean") throw new Error("shape");
    return reply;
  } catch {
    throw new NtxError("SECRETS_NOT_DELIVERED", "the provider's answer is unreadable");
  }
}
