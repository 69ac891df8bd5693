/**
 * `ntx job status|results|accept|dispute|refund <jobHash>`: the buyer's ways out from a terminal. The API builds
 * the settlement transaction with the offchain builders (as for the page's wallet), this command signs it with
 * the buyer's payment key file and hands the witness back; results are downloaded and their blake2b-256 checked
 * against the job's proven `resultHash` before any file is written.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { CML, utxoToCore } from "@lucid-evolution/lucid";
import type { Command } from "commander";
import { z } from "zod/v4";
import { addressOfPrivateKey, createChain, loadChainConfig } from "../../offchain/chain/index.js";
import { NtxError } from "../../offchain/errors.js";
import { blake2b256Hex } from "../crypto/sodium.js";
import { loadPaymentKey } from "../provider/keys.js";
import { formatNtx } from "../web/format.js";
import { listTarFiles } from "../web/tar-list.js";
import { parseOptions } from "./options.js";

const JobHash = z.string().regex(/^[0-9a-f]{64}$/, "a job hash is 64 lowercase hex characters");
const Common = z.object({ api: z.url(), json: z.boolean().optional() });
const WithKey = Common.extend({ key: z.string().min(1) });
const WithOut = Common.extend({ out: z.string().min(1) });

interface Status {
  phase: string;
  next: string;
  at: number | null;
  actions: string[];
  price: string | null;
  resultHash: string | null;
  escrow: { outRef: string; amount: string; deadline: number; claimableAt: number | null } | null;
}

async function call<T>(base: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base), { method, signal: AbortSignal.timeout(60_000), ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }) });
  } catch (error) {
    throw new NtxError("API_UNREACHABLE", `the ntx-market API at ${base} cannot be reached (${(error as Error).message})`, { retryable: true });
  }
  const text = await response.text();
  let parsed: { error?: { code?: string; message?: string } } | undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new NtxError("API_BAD_RESPONSE", `the API answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) throw new NtxError(parsed?.error?.code ?? `HTTP_${response.status}`, parsed?.error?.message ?? `the API answered ${response.status}`);
  return parsed as T;
}

const when = (ms: number | null) => (ms === null ? "" : ` (${new Date(ms).toISOString()})`);

async function status(api: string, jobHash: string): Promise<Status> {
  return call<Status>(api, "GET", `/api/jobs/${jobHash}/status`);
}

async function settle(action: "accept" | "dispute" | "refund", jobHash: string, options: z.infer<typeof WithKey>): Promise<string> {
  const key = await loadPaymentKey(options.key);
  const chain = createChain(loadChainConfig());
  const address = addressOfPrivateKey(key, chain.network);
  const utxos = (await chain.utxosAt(address)).map((u) => utxoToCore(u).to_cbor_hex());
  const built = await call<{ tx: string; fee: string }>(options.api, "POST", `/api/tx/${action}`, { address, utxos, jobHash });
  const lucid = await chain.lucid({ privateKey: key });
  const witnessSet = (await lucid.wallet().signTx(CML.Transaction.from_cbor_hex(built.tx))).to_cbor_hex();
  const { txHash } = await call<{ txHash: string }>(options.api, "POST", "/api/tx/submit", { tx: built.tx, witnessSet });
  await chain.awaitConfirmation(txHash);
  return txHash;
}

/** Writes the verified archive's files under `out`; a path that would leave it is refused. */
async function extract(archive: Uint8Array, out: string): Promise<string[]> {
  const root = resolve(out);
  const written: string[] = [];
  const listing = listTarFiles(archive);
  if (!listing.complete) throw new NtxError("RESULT_ARCHIVE_INVALID", "the result archive is cut short or malformed: nothing was written");
  // Every path checked before the first file is written: a refused archive leaves nothing behind.
  const targets = listing.files.map((entry) => {
    const target = resolve(root, entry.path);
    if (!target.startsWith(root + sep)) throw new NtxError("RESULT_UNSAFE_PATH", `the result names a file outside the output folder: ${entry.path}`);
    return { entry, target };
  });
  for (const { entry, target } of targets) {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, entry.data);
    written.push(entry.path);
  }
  return written;
}

export function registerJobCommands(program: Command): void {
  const job = program.command("job").description("a buyer's job: where it stands, its results, accept, dispute or refund it");
  const api = (c: Command) => c.option("--api <url>", "the ntx-market API", process.env.NTX_API_URL ?? "http://127.0.0.1:8080").option("--json", "machine-readable output");

  api(job.command("status <jobHash>").description("where the job stands and what happens next")).action(async (hash: string, raw: unknown) => {
    const o = parseOptions(Common, raw);
    const s = await status(o.api, parseOptions(z.object({ jobHash: JobHash }), { jobHash: hash }).jobHash);
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    console.log(`${s.phase}: ${s.next}${when(s.at)}`);
    const { ntxDecimals } = await call<{ ntxDecimals: number }>(o.api, "GET", "/api/buyer/config");
    if (s.price) console.log(`price ${formatNtx(s.price, ntxDecimals)}`);
    if (s.escrow) console.log(`escrow ${s.escrow.outRef}, deadline ${new Date(s.escrow.deadline).toISOString()}`);
    if (s.resultHash) console.log(`result hash ${s.resultHash}`);
    if (s.actions.length) console.log(`you can: ${s.actions.join(", ")}`);
  });

  api(job.command("results <jobHash>").description("download the job's outputs, check their hash against the proven resultHash, write them to --out"))
    .requiredOption("-o, --out <dir>", "folder to write the outputs to")
    .action(async (hash: string, raw: unknown) => {
      const o = parseOptions(WithOut, raw);
      const jobHash = parseOptions(z.object({ jobHash: JobHash }), { jobHash: hash }).jobHash;
      const s = await status(o.api, jobHash);
      if (!s.resultHash) throw new NtxError("RESULT_NOT_FOUND", `job ${jobHash} has no result hash yet (it is ${s.phase})`);
      let response: Response;
      try {
        response = await fetch(new URL(`/api/jobs/${jobHash}/result`, o.api), { signal: AbortSignal.timeout(120_000) });
      } catch (error) {
        throw new NtxError("API_UNREACHABLE", `the API at ${o.api} cannot be reached (${(error as Error).message})`, { retryable: true });
      }
      if (!response.ok) throw new NtxError("RESULT_NOT_FOUND", `the API has no stored result for ${jobHash} (${response.status})`);
      const archive = new Uint8Array(await response.arrayBuffer());
      const got = blake2b256Hex(archive);
      if (got !== s.resultHash) throw new NtxError("RESULT_HASH_MISMATCH", `the downloaded outputs hash to ${got}, not the proven ${s.resultHash}: nothing was written`);
      const files = await extract(archive, o.out);
      await writeFile(join(resolve(o.out), `${jobHash.slice(0, 16)}.tar`), archive);
      if (o.json) return console.log(JSON.stringify({ resultHash: got, files }, null, 2));
      console.log(`outputs match ${got}; ${files.length} file(s) written to ${resolve(o.out)}`);
      for (const f of files) console.log(`  ${f}`);
    });

  for (const action of ["accept", "dispute", "refund"] as const) {
    const what = { accept: "pay the provider now", dispute: "dispute the completed job (the arbiter decides)", refund: "take the NTX back after the deadline" }[action];
    api(job.command(`${action} <jobHash>`).description(what))
      .requiredOption("-k, --key <file>", "the buyer's payment key file (mode 0600) that locked the job")
      .action(async (hash: string, raw: unknown) => {
        const o = parseOptions(WithKey, raw);
        const txHash = await settle(action, parseOptions(z.object({ jobHash: JobHash }), { jobHash: hash }).jobHash, o);
        if (o.json) return console.log(JSON.stringify({ action, txHash }));
        console.log(`${action} confirmed in ${txHash}`);
      });
  }
}
