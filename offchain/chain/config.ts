import { z } from "zod/v4";
import { NtxError } from "../errors.js";

/**
 * Which chain a component talks to. Every network, the local devnet included, is reached through a
 * Blockfrost-shaped HTTP API; only the URL and the project id differ. The project id comes from the environment
 * (BLOCKFROST_PROJECT_ID), never from a file in the repository.
 */
export const ChainNetworkSchema = z.enum(["devnet", "preview", "preprod", "mainnet"]);
export type ChainNetwork = z.infer<typeof ChainNetworkSchema>;

export const DEFAULT_DEVNET_CHAIN_PORT = 3010;

export const DEFAULT_BLOCKFROST_URLS: Record<ChainNetwork, string> = {
  devnet: `http://127.0.0.1:${DEFAULT_DEVNET_CHAIN_PORT}`,
  preview: "https://cardano-preview.blockfrost.io/api/v0",
  preprod: "https://cardano-preprod.blockfrost.io/api/v0",
  mainnet: "https://cardano-mainnet.blockfrost.io/api/v0",
};

export const ChainConfigSchema = z
  .object({
    network: ChainNetworkSchema,
    blockfrostUrl: z.string().url().transform((u) => u.replace(/\/+$/, "")),
    projectId: z.string().min(1).optional(),
    /** Per HTTP request. */
    requestTimeoutMs: z.number().int().positive().default(20_000),
  })
  .superRefine((config, ctx) => {
    if (config.network !== "devnet" && !config.projectId) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["projectId"], message: `a Blockfrost project id is required for ${config.network}: set BLOCKFROST_PROJECT_ID` });
    }
    if (config.projectId && config.network !== "devnet" && !config.projectId.startsWith(config.network)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["projectId"], message: `BLOCKFROST_PROJECT_ID is for another network than ${config.network} (Blockfrost project ids start with the network name)` });
    }
  });
export type ChainConfig = z.infer<typeof ChainConfigSchema>;
export type ChainConfigInput = z.input<typeof ChainConfigSchema>;

/**
 * Reads the chain config from the environment — NTX_NETWORK (default devnet), BLOCKFROST_URL (default: the
 * network's Blockfrost URL, or the local devnet chain server), BLOCKFROST_PROJECT_ID — with explicit overrides on top.
 */
export function loadChainConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ChainConfigInput> = {}): ChainConfig {
  const network = overrides.network ?? env.NTX_NETWORK ?? "devnet";
  const networkParsed = ChainNetworkSchema.safeParse(network);
  if (!networkParsed.success) throw new NtxError("CHAIN_CONFIG_INVALID", `unknown network "${network}": use devnet, preview, preprod or mainnet (NTX_NETWORK)`);
  const parsed = ChainConfigSchema.safeParse({
    network: networkParsed.data,
    blockfrostUrl: overrides.blockfrostUrl ?? env.BLOCKFROST_URL ?? DEFAULT_BLOCKFROST_URLS[networkParsed.data],
    projectId: overrides.projectId ?? (env.BLOCKFROST_PROJECT_ID || undefined),
    requestTimeoutMs: overrides.requestTimeoutMs,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NtxError("CHAIN_CONFIG_INVALID", `chain config: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}
