/**
 * Wire schemas of the market. Amounts travel as decimal strings (JSON has no bigint) and parse to bigint; times
 * are POSIX ms; keys, hashes and signatures are lowercase hex without 0x except the EIP-712 signature, which
 * keeps ethers' 0x form so it can be handed to any EVM tool unchanged.
 */
import { z } from "zod/v4";
import { PROTOCOL_VERSION } from "./protocol.js";

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes}-byte lowercase hex`);
export const HashHex = hex(32);
/** Compressed secp256k1 public key: the provider id. */
export const ProviderId = z.string().regex(/^0[23][0-9a-f]{64}$/, "33-byte compressed secp256k1 key, lowercase hex");
export const Ed25519KeyHex = hex(32);
export const Eip712Signature = z.string().regex(/^0x[0-9a-f]{130}$/, "65-byte r||s||v signature, 0x-prefixed lowercase hex");
/** 28-byte payment key hash (an arbiter, a buyer), lowercase hex. */
export const KeyHash = hex(28);
const AMOUNT_PATTERN = /^(0|[1-9][0-9]{0,38})$/;
/**
 * A non-negative integer in base units, as a decimal string. The pattern is tested inside the transform: in
 * zod v4 a failed regex check does not stop a later transform or pipe, and `BigInt("1e308")` throws past
 * `safeParse`, which once let one bid halt every verifier thread.
 */
export const Amount = z.string().transform((s, ctx) => {
  if (!AMOUNT_PATTERN.test(s)) {
    ctx.issues.push({ code: "custom", message: "decimal string of base units", input: s });
    return z.NEVER;
  }
  return BigInt(s);
});
const U64_MAX = "18446744073709551615";
/** A u64 nonce as a decimal string; compared as text so nothing here can throw on input. */
export const Nonce = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,19})$/, "decimal u64 nonce")
  .refine((s) => s.length < U64_MAX.length || (s.length === U64_MAX.length && s <= U64_MAX), "nonce exceeds u64");
export const TimeMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Region and attribute names double as NATS subject tokens, so they are restricted to subject-safe characters. */
export const Token = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lowercase token [a-z0-9_-]");
const Attributes = z.record(Token, z.string().max(128)).refine((a) => Object.keys(a).length <= 32, "at most 32 attributes");
const Version = z.literal(PROTOCOL_VERSION);

export const Gpu = z.object({ model: Token, vramMiB: z.number().int().positive() }).strict();
export type Gpu = z.infer<typeof Gpu>;

export const OfferResources = z
  .object({
    cpuCores: z.number().int().positive().max(4096),
    memoryMiB: z.number().int().positive(),
    diskGiB: z.number().int().nonnegative(),
    gpus: z.array(Gpu).max(64),
  })
  .strict();
export type OfferResources = z.infer<typeof OfferResources>;

/** Prices in NTX base units per unit-hour: a cpu core, a GiB of memory, a GiB of disk, one GPU. */
export const Prices = z
  .object({ cpuCoreHour: Amount, memoryGiBHour: Amount, diskGiBHour: Amount, gpuHour: Amount })
  .strict();
export type Prices = z.infer<typeof Prices>;

/** What a provider accepts of an escrow, signed in its offer (DESIGN §4): the matcher and the provider hold bids to it. */
export const OfferTerms = z
  .object({
    /** Arbiters it accepts in a datum; [] means it accepts no arbiter at all. */
    arbiters: z.array(KeyHash).max(16),
    maxChallengeWindowMs: TimeMs,
    /** A bid's deadline may be at most this far after the match. */
    maxDeadlineMs: TimeMs.positive(),
    /** A confirmed match not locked on-chain within this is released. */
    lockWindowMs: TimeMs.positive(),
  })
  .strict();
export type OfferTerms = z.infer<typeof OfferTerms>;

export const UnsignedOffer = z
  .object({
    v: Version,
    type: z.literal("offer"),
    providerId: ProviderId,
    payoutAddress: z.string().regex(/^addr(_test)?1[02-9ac-hj-np-z]{20,200}$/, "bech32 Cardano address"),
    region: Token,
    attributes: Attributes,
    resources: OfferResources,
    prices: Prices,
    maxDurationMs: TimeMs.positive(),
    terms: OfferTerms,
    expiresAt: TimeMs,
    nonce: Nonce,
  })
  .strict();
export const Offer = UnsignedOffer.extend({ signature: Eip712Signature }).strict();
export type UnsignedOffer = z.input<typeof UnsignedOffer>;
export type Offer = z.output<typeof Offer>;
export type OfferInput = z.input<typeof Offer>;

/** Image pinned by digest (`name@sha256:<64 hex>`) or a local tag the provider already holds (`name:tag`). */
export const ImageRef = z
  .string()
  .max(255)
  .regex(/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})$/, "image name pinned by @sha256 digest or :tag");

export const JobResources = z
  .object({
    cpuCores: z.number().int().positive().max(4096),
    memoryMiB: z.number().int().positive(),
    diskGiB: z.number().int().nonnegative(),
    gpu: z.object({ count: z.number().int().positive().max(64), model: Token.optional(), minVramMiB: z.number().int().positive().optional() }).strict().optional(),
  })
  .strict();
export type JobResources = z.infer<typeof JobResources>;

export const NetworkPolicy = z.enum(["none", "egress"]);

/** A port a service listens on inside its container; below 1024 would need a capability the sandbox drops. */
export const ServicePort = z.number().int().min(1024).max(65535);
const AbsolutePath = z.string().regex(/^\/(?!.*\/\.\.?(\/|$))[A-Za-z0-9_.\/-]{1,254}$/, "absolute path without . or .. segments");
const FileName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, "file name [a-z0-9_.-]");
const Argv = z.array(z.string().min(1).max(4096)).min(1).max(64);

/**
 * What makes a job a long-running service (a stake-pool node): how it restarts, the one persistent volume it
 * keeps (a fixed-size file system of its own), the ports published to the world (the only network a service
 * gets from outside), how the provider tells it is healthy, and how long before its lease runs dry the provider
 * warns the buyer. No defaults: the parsed spec is what is hashed, so it must be exactly what the buyer signed.
 */
export const ServiceSpec = z
  .object({
    restart: z.object({ policy: z.enum(["always", "on-failure"]), maxRestarts: z.number().int().min(0).max(1000) }).strict(),
    volume: z.object({ name: Token, mountPath: AbsolutePath, sizeMiB: z.number().int().min(16).max(64 * 1024 * 1024) }).strict().optional(),
    ports: z
      .array(z.object({ container: ServicePort, protocol: z.enum(["tcp", "udp"]) }).strict())
      .max(8)
      .refine((ps) => new Set(ps.map((p) => `${p.container}/${p.protocol}`)).size === ps.length, "each port once"),
    health: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("prometheus"), port: ServicePort, path: z.string().regex(/^\/[A-Za-z0-9_.\/-]{0,255}$/), metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/) }).strict(),
      z.object({ kind: z.literal("command"), command: Argv }).strict(),
    ]),
    /** The buyer is told this long before the provider stops the service for want of funds. */
    noticeMs: TimeMs.positive(),
    /** Plain files (configuration, topology) mounted read-only at `dir`; part of the signed spec. */
    files: z
      .object({ dir: AbsolutePath, entries: z.record(FileName, z.string().max(64 * 1024)) })
      .strict()
      .refine((f) => Object.keys(f.entries).length <= 16, "at most 16 files")
      .optional(),
    /** Secret files the buyer delivers sealed to the provider, opened into a RAM-only folder mounted read-only at `dir`. */
    secrets: z.object({ dir: AbsolutePath, names: z.array(FileName).min(1).max(8) }).strict().optional(),
    /** Small writable RAM folders (a node's socket folder), 16 MiB each. */
    scratch: z.array(AbsolutePath).max(4).optional(),
  })
  .strict()
  .refine((s) => {
    const mounts = [s.volume?.mountPath, s.files?.dir, s.secrets?.dir, ...(s.scratch ?? [])].filter((m): m is string => m !== undefined);
    return new Set(mounts).size === mounts.length && !mounts.some((a) => mounts.some((b) => a !== b && b.startsWith(`${a}/`)));
  }, "volume, files, secrets and scratch folders must be distinct and not nested");
export type ServiceSpec = z.infer<typeof ServiceSpec>;

export const JobSpec = z
  .object({
    /** Absent for a batch job (every spec signed before services existed hashes as it did). */
    kind: z.literal("service").optional(),
    service: ServiceSpec.optional(),
    image: ImageRef,
    command: z.array(z.string().max(4096)).max(256),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().max(4096)),
    resources: JobResources,
    maxDurationMs: TimeMs.positive(),
    /** Absolute paths inside the container collected as results. */
    outputs: z.array(z.string().regex(/^\/[^\0]{0,1023}$/)).max(64),
    network: NetworkPolicy,
    /**
     * Random bytes the buyer picks so that two identical specs (two buyers running the same command) still get
     * different job hashes, hence different escrows and job records. Optional for old clients.
     */
    salt: z.string().regex(/^([0-9a-f]{2}){16,32}$/, "16 to 32 bytes of lowercase hex").optional(),
  })
  .strict()
  .refine((s) => s.service?.volume === undefined || s.service.volume.sizeMiB <= s.resources.diskGiB * 1024, "the service's volume must fit the disk it buys")
  .refine((s) => (s.kind === "service") === (s.service !== undefined), "a service job has kind \"service\" and a service section, a batch job neither")
  // A published port is reachable from anywhere and the node talks to its peers: a service is never "none".
  .refine((s) => s.kind !== "service" || s.network === "egress", "a service job's network is \"egress\"");
export type JobSpec = z.infer<typeof JobSpec>;

/** What a CIP-30 wallet's `signData` returns: COSE_Sign1 and COSE_Key, CBOR hex. */
export const DataSignature = z.object({ signature: z.string().regex(/^([0-9a-f]{2}){1,4096}$/), key: z.string().regex(/^([0-9a-f]{2}){1,1024}$/) }).strict();
export type DataSignature = z.infer<typeof DataSignature>;

/** The escrow terms a bid asks for: the datum's challenge window and arbiter must equal these. */
export const BidEscrowTerms = z.object({ challengeWindowMs: TimeMs, arbiter: KeyHash.optional() }).strict();
export type BidEscrowTerms = z.infer<typeof BidEscrowTerms>;

export const UnsignedBid = z
  .object({
    v: Version,
    type: z.literal("bid"),
    spec: JobSpec,
    /** The most the buyer pays for the whole job (maxDurationMs at the offer's prices), base units. */
    maxPrice: Amount,
    /** The job must be done by then; the escrow deadline. */
    deadline: TimeMs,
    /** The bid is void after this (≤ deadline): bounds how long a signed bid can be replayed. */
    expiresAt: TimeMs,
    buyer: z.object({ key: Ed25519KeyHex, address: z.string().regex(/^([0-9a-f]{2}){29,57}$/).optional() }).strict(),
    nonce: Nonce,
    terms: BidEscrowTerms,
    regions: z.array(Token).max(32).optional(),
    attributes: Attributes.optional(),
  })
  .strict();
export const Bid = UnsignedBid.extend({ signature: DataSignature }).strict();
export type UnsignedBid = z.input<typeof UnsignedBid>;
export type Bid = z.output<typeof Bid>;
export type BidInput = z.input<typeof Bid>;

export const ReservedResources = z
  .object({ cpuCores: z.number().int().nonnegative(), memoryMiB: z.number().int().nonnegative(), diskGiB: z.number().int().nonnegative(), gpuIndices: z.array(z.number().int().nonnegative()) })
  .strict();
export type ReservedResources = z.infer<typeof ReservedResources>;

/**
 * A proposed match. The matcher holds no key: the match is backed by the two signed messages it embeds, which
 * anyone (the provider, the escrow builder, a second matcher) can re-verify.
 */
export const Match = z
  .object({
    v: Version,
    type: z.literal("match"),
    matchId: z.string().regex(/^[0-9a-f]{64}-[0-9]+$/),
    jobHash: HashHex,
    attempt: z.number().int().positive(),
    bid: Bid,
    offer: Offer,
    price: Amount,
    reserved: ReservedResources,
    matcherId: z.string().min(1).max(64),
    matchedAt: TimeMs,
    confirmBy: TimeMs,
  })
  .strict();
export type Match = z.output<typeof Match>;
export type MatchInput = z.input<typeof Match>;

export const UnsignedProviderConfirm = z
  .object({ v: Version, type: z.literal("provider-confirm"), matchId: Match.shape.matchId, jobHash: HashHex, providerId: ProviderId, confirmedAt: TimeMs })
  .strict();
export const ProviderConfirm = UnsignedProviderConfirm.extend({ signature: Eip712Signature }).strict();
export type UnsignedProviderConfirm = z.input<typeof UnsignedProviderConfirm>;
export type ProviderConfirm = z.output<typeof ProviderConfirm>;

/**
 * `locked`: the provider saw a valid escrow for the job. `released`: it gave the match up before running (lock
 * window passed, escrow refused; `message` says why). The matcher frees the reservation on `released` and on
 * the terminal kinds. Service jobs (leases) add `notice` (the lease runs dry soon: `message` says when the service
 * stops), `claimed` (accrued NTX claimed) and `stopped` (stopped for want of funds; a top-up starts it again);
 * a closed lease ends with `completed`.
 */
export const JobEventKind = z.enum(["confirmed", "locked", "released", "pulling", "started", "running", "output", "completed", "failed", "cancelled", "notice", "claimed", "stopped"]);
export type JobEventKind = z.infer<typeof JobEventKind>;

/** A provider's report of what it observed about a job, on `ntx.jobs.<jobHash>.events`; `seq` orders them. */
export const UnsignedJobEvent = z
  .object({
    v: Version,
    type: z.literal("job-event"),
    jobHash: HashHex,
    providerId: ProviderId,
    seq: z.number().int().nonnegative(),
    kind: JobEventKind,
    at: TimeMs,
    message: z.string().max(4096).optional(),
    resultHash: HashHex.optional(),
    exitCode: z.number().int().optional(),
  })
  .strict();
export const JobEvent = UnsignedJobEvent.extend({ signature: Eip712Signature }).strict();
export type UnsignedJobEvent = z.input<typeof UnsignedJobEvent>;
export type JobEvent = z.output<typeof JobEvent>;
