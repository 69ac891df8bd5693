/**
 * A job's outputs, fetched as the provider stored them (the deterministic tar of `/out`), checked in the browser:
 * blake2b-256 of the archive must equal the `resultHash` the provider proved on-chain, or nothing is offered.
 */
import { blake2b } from "@noble/hashes/blake2b";
import { listTarFiles } from "./tar-list.js";
import { bytesToHex } from "./cbor.js";

export interface VerifiedResult {
  hash: string;
  matches: boolean;
  archive: Uint8Array;
  files: Array<{ path: string; size: number; data: Uint8Array }>;
}

export async function fetchResult(jobHash: string, expectedHash: string): Promise<VerifiedResult> {
  const response = await fetch(`/api/jobs/${jobHash}/result`);
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as { error?: { code?: string } } | null;
    throw Object.assign(new Error(body?.error?.code === "RESULT_NOT_FOUND" ? "The provider has not stored this job's outputs (yet)." : `The outputs could not be downloaded (HTTP ${response.status}).`), { code: body?.error?.code ?? `HTTP_${response.status}` });
  }
  const archive = new Uint8Array(await response.arrayBuffer());
  const hash = bytesToHex(blake2b(archive, { dkLen: 32 }));
  if (hash !== expectedHash) return { hash, matches: false, archive, files: [] };
  // The hash matched, so this is what the provider proved; a listing cut short still downloads whole.
  const files = listTarFiles(archive).files.map((f) => ({ path: f.path, size: f.data.length, data: f.data }));
  return { hash, matches: true, archive, files };
}
