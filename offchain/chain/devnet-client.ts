import { z } from "zod/v4";
import { NtxError } from "../errors.js";
import { chainError } from "./chain-errors.js";

/**
 * Client side of the devnet chain server's own endpoints (beside its Blockfrost API): what the devnet is
 * (`/devnet/info`, so other components configure the NTX asset and slot config from it), its faucet, and
 * on-demand blocks.
 */
export const DevnetInfoSchema = z.object({
  network: z.literal("devnet"),
  networkId: z.literal(0),
  lucidNetwork: z.literal("Custom"),
  slotConfig: z.object({ zeroTime: z.number().int(), zeroSlot: z.number().int(), slotLength: z.number().int().positive() }),
  blockTimeMs: z.number().int().nonnegative(),
  ntx: z.object({ policyId: z.string().regex(/^[0-9a-f]{56}$/), assetName: z.string().regex(/^[0-9a-f]*$/), unit: z.string().regex(/^[0-9a-f]{56,120}$/) }),
  faucetAddress: z.string(),
  tip: z.object({ height: z.number().int(), hash: z.string(), slot: z.number().int(), time: z.number().int() }),
});
export type DevnetInfo = z.infer<typeof DevnetInfoSchema>;

const FaucetResultSchema = z.object({ tx_hash: z.string().regex(/^[0-9a-f]{64}$/), lovelace: z.string(), ntx: z.string(), unit: z.string() });
const BlockResultSchema = z.object({ height: z.number().int(), hash: z.string(), slot: z.number().int(), time: z.number().int(), tx_count: z.number().int() });

async function devnetRequest<T>(url: string, path: string, schema: z.ZodType<T>, init?: RequestInit): Promise<T> {
  const base = url.replace(/\/+$/, "");
  let response: Response;
  try {
    response = await fetch(base + path, init);
  } catch (error) {
    throw chainError(error, `calling ${path} on the devnet chain`, base);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const message = (body as { message?: string } | undefined)?.message ?? response.statusText;
    if (response.status === 400) throw new NtxError("DEVNET_REQUEST_REFUSED", `devnet chain refused ${path}: ${message}`, { details: { url: base } });
    throw chainError({ status_code: response.status, message }, `calling ${path} on the devnet chain`, base);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new NtxError("DEVNET_BAD_RESPONSE", `${base}${path} did not answer like an ntx devnet chain server (${parsed.error.issues[0]?.message}); is BLOCKFROST_URL pointing at it?`, { retryable: false });
  return parsed.data;
}

export function fetchDevnetInfo(url: string): Promise<DevnetInfo> {
  return devnetRequest(url, "/devnet/info", DevnetInfoSchema);
}

/** Funds `address` with devnet lovelace and NTX (base units); returns the faucet transaction's hash. */
export async function requestDevnetFunds(url: string, request: { address: string; lovelace?: bigint; ntx?: bigint }): Promise<{ txHash: string; lovelace: bigint; ntx: bigint; unit: string }> {
  const result = await devnetRequest(url, "/devnet/faucet", FaucetResultSchema, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ address: request.address, lovelace: request.lovelace?.toString(), ntx: request.ntx?.toString() }),
  });
  return { txHash: result.tx_hash, lovelace: BigInt(result.lovelace), ntx: BigInt(result.ntx), unit: result.unit };
}

/** Seals the mempool into a block now (tests, and devnets run with on-demand blocks). */
export function produceDevnetBlock(url: string): Promise<z.infer<typeof BlockResultSchema>> {
  return devnetRequest(url, "/devnet/block", BlockResultSchema, { method: "POST" });
}
