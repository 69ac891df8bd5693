import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod/v4";
import { NtxError } from "../errors.js";
import { parseWithBigints, stringifyWithBigints } from "./json-codec.js";
import type { LedgerSnapshot, TxRecord } from "./ledger.js";

/**
 * The chain state file. Written whole to a temporary file and renamed over the old one, so a crash mid-write
 * leaves the previous complete state, never half of a new one.
 */

const StateFileSchema = z.object({
  version: z.literal(1),
  network: z.literal("devnet"),
  keys: z.object({ faucetAddress: z.string().min(1), ntxPolicyId: z.string().regex(/^[0-9a-f]{56}$/) }),
  ledger: z.object({
    version: z.literal(1),
    slotConfig: z.object({ zeroTime: z.number().int(), zeroSlot: z.number().int(), slotLength: z.number().int().positive() }),
    tip: z.object({ height: z.number().int().nonnegative(), hash: z.string(), slot: z.number().int() }).passthrough(),
    emulator: z.object({ ledger: z.record(z.string(), z.unknown()), mempool: z.record(z.string(), z.unknown()) }).passthrough(),
  }).passthrough(),
});

export interface StateFile {
  version: 1;
  network: "devnet";
  keys: { faucetAddress: string; ntxPolicyId: string };
  ledger: LedgerSnapshot;
}

export async function readStateFile(path: string): Promise<StateFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new NtxError("DEVNET_STATE_UNREADABLE", `cannot read the devnet chain state ${path}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = StateFileSchema.safeParse(parseWithBigints(text));
  if (!parsed.success) {
    throw new NtxError("DEVNET_STATE_INVALID", `the devnet chain state ${path} is not a valid state file (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}); move it away to start a fresh chain`);
  }
  return parsed.data as unknown as StateFile;
}

let tempCounter = 0;

/** Each transaction record's text, with the block it had then (a record changes only when its block is set). */
const txTexts = new WeakMap<TxRecord, { block: TxRecord["block"]; text: string }>();
/** Each live UTxO entry's text, with its spent flag then (the only thing about an entry that changes). */
const entryTexts = new WeakMap<object, { spent: unknown; text: string }>();
const mark = (what: string) => `${what}-${randomUUID()}`;
const MARKS = { txs: mark("txs"), spentBy: mark("spent"), blocks: mark("blocks"), scripts: mark("scripts"), utxos: mark("utxos"), datums: mark("datums") };

/** `text` with each JSON string `mark` replaced by its text, in one pass (the texts are tens of MB). */
function replaceMarks(text: string, marks: Array<[mark: string, by: string]>): string {
  const found = marks.map(([mark, by]) => ({ at: text.indexOf(JSON.stringify(mark)), length: mark.length + 2, by })).sort((a, b) => a.at - b.at);
  const parts: string[] = [];
  let from = 0;
  for (const f of found) {
    parts.push(text.slice(from, f.at), f.by);
    from = f.at + f.length;
  }
  parts.push(text.slice(from));
  return parts.join("");
}

/** Plain JSON for parts that hold strings and numbers only (no replacer call per value); with bigints if any. */
function plain(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return stringifyWithBigints(value);
  }
}

/**
 * `stringifyWithBigints(state)`, byte for byte, with each transaction's and each live UTxO's text kept from the last
 * write, and the parts without bigints written as plain JSON: the chain writes its whole state after every block
 * with transactions, and turning every transaction ever made into text again each time grew with the chain (240
 * CPU ms a write at 5,000 transactions) until it took most of the server.
 */
export function stateFileText(state: StateFile): string {
  const { ledger } = state;
  const txs = ledger.txs.map((tx) => {
    let entry = txTexts.get(tx);
    if (!entry || entry.block !== tx.block) txTexts.set(tx, (entry = { block: tx.block, text: stringifyWithBigints(tx) }));
    return entry.text;
  });
  const utxos = Object.entries(ledger.emulator.ledger).map(([key, value]) => {
    const spent = (value as { spent?: unknown }).spent;
    let entry = entryTexts.get(value as object);
    if (!entry || entry.spent !== spent) entryTexts.set(value as object, (entry = { spent, text: stringifyWithBigints(value) }));
    return `${JSON.stringify(key)}:${entry.text}`;
  });
  const rest = stringifyWithBigints({
    ...state,
    ledger: { ...ledger, blocks: MARKS.blocks, txs: MARKS.txs, spentBy: MARKS.spentBy, scripts: MARKS.scripts, emulator: { ...ledger.emulator, ledger: MARKS.utxos, datumTable: MARKS.datums } },
  });
  return replaceMarks(rest, [
    [MARKS.txs, `[${txs.join(",")}]`],
    [MARKS.utxos, `{${utxos.join(",")}}`],
    [MARKS.spentBy, plain(ledger.spentBy)],
    [MARKS.blocks, plain(ledger.blocks)],
    [MARKS.scripts, plain(ledger.scripts)],
    [MARKS.datums, plain(ledger.emulator.datumTable)],
  ]);
}

/** Serializes `state` before its first await, so the file holds one instant of the chain even while it moves on. */
export async function writeStateFile(path: string, state: StateFile): Promise<void> {
  const text = stateFileText(state);
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(temp, text, { mode: 0o600 });
  await rename(temp, path);
}
