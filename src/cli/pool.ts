/**
 * `ntx pool deploy|status|topup|rotate-kes|stop`: a stake-pool operator's commands. `deploy` renders the node's
 * service spec (relay or block producer, per network) for the market; `rotate-kes` seals the producer's KES key,
 * VRF key and operational certificate to the provider's key and delivers them over NATS (first delivery and every
 * rotation), warning before the certificate expires; `status` reads the node's metrics; `topup` and `stop` act on
 * the lease through the lease builders.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";
import { jobHash } from "../market/job-hash.js";
import { connectNats } from "../nats/connection.js";
import { readSecretFile } from "../provider/keys.js";
import { deliverSealed } from "../provider/nats/secret-inbox.js";
import { kesStatus, readOpCert } from "../pool/kes.js";
import { POOL_NETWORKS, type PoolNetwork } from "../pool/networks.js";
import { PoolRole, type AccessPoint } from "../pool/node-config.js";
import { sealToProvider } from "../pool/seal.js";
import { estimatedTip, latestHealth, summarizeMetrics, summarizeNode } from "../pool/status.js";
import { PRODUCER_SECRETS, renderPoolSpec } from "../pool/template.js";
import { parseOptions } from "./options.js";
import { closePoolLease, openPoolLease, topUpPoolLease } from "./pool-lease.js";
import { loadChainConfig } from "../../offchain/chain/index.js";
import { ntxAsset } from "../../offchain/ntx.js";

const Network = z.enum(POOL_NETWORKS as [PoolNetwork, ...PoolNetwork[]]);
const Role = z.enum([PoolRole.Relay, PoolRole.BlockProducer]);
const Peer = z.string().regex(/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/, "host:port").transform((s): AccessPoint => {
  const i = s.lastIndexOf(":");
  return { address: s.slice(0, i), port: Number(s.slice(i + 1)) };
});

const DeployOptions = z.object({
  network: Network,
  role: Role,
  peer: z.array(Peer).max(32).default([]),
  imageDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
  image: z.string().max(255).optional(),
  leaseDays: z.coerce.number().positive().max(3650).default(30),
  noticeHours: z.coerce.number().positive().max(24 * 90).default(24),
  mithrilGenesisKey: z.string().regex(/^[0-9a-f]{2,4000}$/).optional(),
  out: z.string().min(1),
  json: z.boolean().optional(),
});

const RotateOptions = z.object({
  provider: z.string().regex(/^0[23][0-9a-f]{64}$/, "the provider id (33-byte compressed key, hex)"),
  job: z.string().regex(/^[0-9a-f]{64}$/),
  kes: z.string().min(1),
  vrf: z.string().min(1),
  opcert: z.string().min(1),
  buyerKey: z.string().min(1),
  nats: z.string().min(1),
  network: Network,
  force: z.boolean().optional(),
  json: z.boolean().optional(),
});

const StatusOptions = z
  .object({ network: Network, metricsUrl: z.url().optional(), job: z.string().regex(/^[0-9a-f]{64}$/).optional(), api: z.url(), role: Role.default(PoolRole.Relay), json: z.boolean().optional() })
  .refine((o) => (o.metricsUrl === undefined) !== (o.job === undefined), { message: "give --job (the provider's reports through the API) or --metrics-url (the node itself)", path: ["job"] });

const LeaseOptions = z.object({
  job: z.string().regex(/^[0-9a-f]{64}$/),
  key: z.string().min(1),
  amount: z.string().regex(/^[1-9][0-9]{0,38}$/).optional(),
  days: z.coerce.number().positive().max(3650).optional(),
  referenceScript: z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index").optional(),
  lease: z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index").optional(),
  json: z.boolean().optional(),
});

/** A key file the node reads: its bytes exactly, refused if others can read it (as every key file here). */
async function readKeyFile(path: string, what: string): Promise<Uint8Array> {
  await readSecretFile(path, what);
  return new Uint8Array(await readFile(path));
}

async function readSeed(path: string): Promise<Uint8Array> {
  const hex = await readSecretFile(path, "buyer key");
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new NtxError("KEY_INVALID", `buyer key file ${path} must hold the 32-byte Ed25519 seed in hex (the key that signed the bid)`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const OpenOptions = z.object({
  job: z.string().regex(/^[0-9a-f]{64}$/),
  key: z.string().min(1),
  provider: z.string().regex(/^addr(_test)?1[02-9ac-hj-np-z]{20,200}$/, "the provider's payout address (bech32, from its offer)"),
  rate: z.string().regex(/^[1-9][0-9]{0,30}$/),
  days: z.coerce.number().positive().max(3650),
  noticeHours: z.coerce.number().positive().max(24 * 90).default(24),
  ntxPolicy: z.string().regex(/^[0-9a-f]{56}$/).optional(),
  ntxName: z.string().regex(/^([0-9a-f]{2}){0,32}$/).optional(),
  referenceScript: z.string().regex(/^[0-9a-f]{64}#[0-9]{1,5}$/, "txHash#index").optional(),
  json: z.boolean().optional(),
});

export function registerPoolCommands(program: Command): void {
  const pool = program.command("pool").description("a stake-pool operator's Cardano relay or block producer, rented and paid as it runs");

  pool
    .command("deploy")
    .description("render a relay's or block producer's service spec for the market (bid on it, then open its lease)")
    .requiredOption("--network <network>", "mainnet, preprod or preview")
    .requiredOption("--role <role>", "relay or block-producer")
    .option("--peer <host:port>", "a relay's block producer, or a producer's relay (repeat)", collect)
    .option("--image-digest <sha256:…>", "pin the official image by the digest you verified")
    .option("--image <ref>", "another image honouring the same contract")
    .option("--lease-days <n>", "how long the lease runs", "30")
    .option("--notice-hours <n>", "warning before the lease runs dry", "24")
    .option("--mithril-genesis-key <hex>", "bootstrap the database from a Mithril snapshot (image must bundle mithril-client)")
    .requiredOption("-o, --out <file>", "where to write the spec (JSON)")
    .option("--json", "machine-readable output")
    .action(async (raw: unknown) => {
      const o = parseOptions(DeployOptions, raw);
      const spec = renderPoolSpec({
        network: o.network,
        role: o.role,
        peers: o.peer,
        leaseMs: Math.round(o.leaseDays * 86_400_000),
        noticeMs: Math.round(o.noticeHours * 3_600_000),
        ...(o.imageDigest ? { imageDigest: o.imageDigest } : {}),
        ...(o.image ? { image: o.image } : {}),
        ...(o.mithrilGenesisKey ? { mithril: { genesisVerificationKey: o.mithrilGenesisKey } } : {}),
        salt: randomBytes(16).toString("hex"),
      });
      const hash = jobHash(spec);
      await writeFile(o.out, `${JSON.stringify(spec, null, 2)}\n`);
      if (o.json) return console.log(JSON.stringify({ jobHash: hash, out: o.out }));
      const r = spec.resources;
      console.log(`${o.network} ${o.role}: job ${hash}`);
      console.log(`  image ${spec.image}; ${r.cpuCores} cores, ${Math.round(r.memoryMiB / 1024)} GiB memory, ${r.diskGiB} GiB disk; port 3001 published, nothing else`);
      console.log(`  spec written to ${o.out}: bid on it, open its lease when matched${o.role === PoolRole.BlockProducer ? ", then deliver the keys with `ntx pool rotate-kes`" : ""}`);
    });

  pool
    .command("rotate-kes")
    .description("seal the producer's KES key, VRF key and operational certificate to the provider and deliver them (first time and every rotation)")
    .requiredOption("--provider <id>", "the provider's id (from its signed offer)")
    .requiredOption("--job <jobHash>", "the block producer's job")
    .requiredOption("--kes <file>", "kes.skey")
    .requiredOption("--vrf <file>", "vrf.skey")
    .requiredOption("--opcert <file>", "node.cert (issued for this KES key)")
    .requiredOption("--buyer-key <file>", "the Ed25519 seed (hex, mode 0600) that signed the bid")
    .requiredOption("--network <network>", "mainnet, preprod or preview (for the KES expiry check)")
    .option("--nats <url>", "NATS server (nats://buyer:password@host:port)", process.env.NTX_NATS_URL ?? "nats://127.0.0.1:4222")
    .option("--force", "deliver even an expired certificate")
    .option("--json", "machine-readable output")
    .action(async (raw: unknown) => {
      const o = parseOptions(RotateOptions, raw);
      const opcertBytes = await readKeyFile(o.opcert, "operational certificate");
      const kes = kesStatus(readOpCert(Buffer.from(opcertBytes).toString("utf8")), estimatedTip(o.network, Date.now()));
      if (kes.expired && !o.force) throw new NtxError("KES_EXPIRED", `the operational certificate's KES periods ran out (period ${kes.currentPeriod}): issue a new one`);
      if (kes.warn) console.error(`warning: ${kes.remainingPeriods} KES periods left (~${Math.round(kes.remainingPeriods * 1.5)} days); issue the next certificate soon`);
      const files: Record<string, Uint8Array> = { [PRODUCER_SECRETS[0]]: await readKeyFile(o.kes, "KES key"), [PRODUCER_SECRETS[1]]: await readKeyFile(o.vrf, "VRF key"), [PRODUCER_SECRETS[2]]: opcertBytes };
      const bundle = sealToProvider({ providerId: o.provider, jobHash: o.job, files, buyerSeed: await readSeed(o.buyerKey) });
      for (const f of Object.values(files)) f.fill(0);
      const nc = await connectNats({ servers: o.nats, name: "ntx-pool" });
      try {
        const reply = await deliverSealed(nc, o.provider, bundle);
        if (!reply.ok) throw new NtxError(reply.code, `the provider refused the keys: ${reply.message}`);
        if (o.json) return console.log(JSON.stringify({ delivered: true, kesPeriodsLeft: kes.remainingPeriods }));
        console.log(`keys delivered sealed and opened by the provider; ${kes.remainingPeriods} KES periods left`);
      } finally {
        await nc.close();
      }
    });

  pool
    .command("status")
    .description("the node's sync (slot lag), peers and KES periods left, from its Prometheus metrics")
    .requiredOption("--network <network>", "mainnet, preprod or preview")
    .option("--job <jobHash>", "the node's job: read the provider's latest report through the API")
    .option("--api <url>", "the ntx-market API", process.env.NTX_API_URL ?? "http://127.0.0.1:8080")
    .option("--metrics-url <url>", "or the node's own metrics (e.g. through a tunnel)")
    .option("--role <role>", "relay or block-producer", "relay")
    .option("--json", "machine-readable output")
    .action(async (raw: unknown) => {
      const o = parseOptions(StatusOptions, raw);
      const producer = o.role === PoolRole.BlockProducer;
      let summary;
      let lease: { balance: string; paidUntil: number; stopAt: number; reportedAt: number } | undefined;
      if (o.metricsUrl) {
        let text: string;
        try {
          const response = await fetch(o.metricsUrl, { signal: AbortSignal.timeout(10_000) });
          text = (await response.text()).slice(0, 4 * 1024 * 1024);
        } catch (error) {
          throw new NtxError("NODE_UNREACHABLE", `no metrics at ${o.metricsUrl} (${(error as Error).message})`, { retryable: true });
        }
        summary = summarizeNode(text, o.network, Date.now(), producer);
      } else {
        let job: { events?: unknown[] };
        try {
          const response = await fetch(new URL(`/api/jobs/${o.job}`, o.api), { signal: AbortSignal.timeout(30_000) });
          if (!response.ok) throw new NtxError(response.status === 404 ? "JOB_NOT_FOUND" : `HTTP_${response.status}`, `the API has no job ${o.job} (${response.status})`);
          job = (await response.json()) as { events?: unknown[] };
        } catch (error) {
          if (error instanceof NtxError) throw error;
          throw new NtxError("API_UNREACHABLE", `the API at ${o.api} cannot be reached (${(error as Error).message})`, { retryable: true });
        }
        const health = latestHealth(Array.isArray(job.events) ? job.events : []);
        if (!health) throw new NtxError("NODE_NO_REPORT", `the provider has not reported on ${o.job} yet`, { retryable: true });
        summary = summarizeMetrics(health.metrics, o.network, health.at || Date.now(), producer);
        lease = { balance: health.balance, paidUntil: health.paidUntil, stopAt: health.stopAt, reportedAt: health.at };
      }
      const s = summary;
      if (o.json) return console.log(JSON.stringify({ ...s, ...(lease ? { lease } : {}) }));
      console.log(`slot ${s.slot ?? "?"} of ~${s.tipSlot} (${s.syncPercent ?? "?"} %, ${s.synced ? "synced" : `${s.lagSlots ?? "?"} slots behind`}); peers ${s.peers ?? "?"}${producer ? `; KES periods left ${s.kesPeriodsLeft ?? "?"}` : ""}`);
      if (lease) console.log(`lease: ${lease.balance} base units left, pays until ${new Date(lease.paidUntil).toISOString()} (${Math.max(0, Math.round((lease.stopAt - Date.now()) / 3_600_000))} h before the node stops)`);
      for (const w of s.warnings) console.log(`warning: ${w}`);
    });

  pool
    .command("open")
    .description("open the lease that pays a matched node (NTX base units a second, at least the provider's prices for it)")
    .requiredOption("--job <jobHash>", "the node's job (the lease names it; the provider runs only that job on it)")
    .requiredOption("-k, --key <file>", "the buyer's payment key file (mode 0600)")
    .requiredOption("--provider <address>", "the provider's payout address (its offer's payoutAddress)")
    .requiredOption("--rate <base units>", "NTX base units a second")
    .requiredOption("--days <n>", "how long the deposit pays for")
    .option("--notice-hours <n>", "warning before the lease runs dry (the spec's notice)", "24")
    .option("--ntx-policy <hex>", "NTX policy id (required except on mainnet)")
    .option("--ntx-name <hex>", "NTX asset name, hex (default 4e5458)")
    .option("--reference-script <txHash#index>", "the lease script's reference UTxO (or NTX_LEASE_REFERENCE_SCRIPT; default: the script inline)")
    .option("--json", "print the result as JSON")
    .action(async (raw: unknown) => {
      const o = parseOptions(OpenOptions, raw);
      const network = loadChainConfig().network;
      const asset = ntxAsset(network, o.ntxPolicy === undefined ? undefined : { policyId: o.ntxPolicy, assetName: o.ntxName ?? "4e5458" });
      const r = await openPoolLease({ job: o.job, keyFile: o.key, provider: o.provider, asset, rate: BigInt(o.rate), days: o.days, noticeMs: Math.round(o.noticeHours * 3_600_000), ...(o.referenceScript ? { referenceScript: o.referenceScript } : {}) });
      if (o.json) return console.log(JSON.stringify({ ...r, amount: r.amount.toString() }));
      console.log(`opened lease ${r.lease} with ${r.amount} base units in ${r.txHash}; it pays until ${new Date(r.end).toISOString()}`);
    });

  for (const action of ["topup", "stop"] as const) {
    pool
      .command(action)
      .description(action === "topup" ? "add NTX to the lease and extend its end (--amount, or --days at the lease's rate)" : "close the lease: the provider is paid what accrued, the rest comes back; the node stops")
      .requiredOption("--job <jobHash>", "the node's job")
      .requiredOption("-k, --key <file>", "the buyer's payment key file (mode 0600)")
      .option("--amount <base units>", "NTX to add")
      .option("--days <n>", "days to add at the lease's own rate")
      .option("--lease <txHash#index>", "which lease, when more than one pays for the job")
      .option("--reference-script <txHash#index>", "the lease script's reference UTxO (or NTX_LEASE_REFERENCE_SCRIPT; default: the script inline)")
      .option("--json", "print the result as JSON")
      .action(async (raw: unknown) => {
        const o = parseOptions(LeaseOptions, raw);
        if (action === "topup" && (o.amount === undefined) === (o.days === undefined)) throw new NtxError("CLI_BAD_OPTION", "give --amount or --days");
        await stat(o.key).catch(() => { throw new NtxError("KEY_FILE_MISSING", `no key file ${o.key}`); });
        const base = { job: o.job, keyFile: o.key, ...(o.referenceScript ? { referenceScript: o.referenceScript } : {}), ...(o.lease ? { lease: o.lease } : {}) };
        const r =
          action === "stop"
            ? await closePoolLease(base)
            : await topUpPoolLease(o.amount !== undefined ? { ...base, amount: BigInt(o.amount) } : { ...base, days: o.days! });
        if (o.json) return console.log(JSON.stringify({ ...r, amount: r.amount.toString() }));
        if (action === "topup") console.log(`added ${r.amount} base units to lease ${r.lease} in ${r.txHash}; it now runs until ${new Date(r.end).toISOString()}`);
        else console.log(`closed lease ${r.lease} (${r.amount} base units: the provider's accrued share to it, the rest back to you) in ${r.txHash}; the node stops`);
      });
  }
}
