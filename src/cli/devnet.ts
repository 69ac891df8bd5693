import type { Command } from "commander";
import { z } from "zod/v4";
import { parseOptions } from "./options.js";
import { DEFAULT_DEVNET_CHAIN_PORT, requestDevnetFunds } from "../../offchain/chain/index.js";
import { startDevnetServer } from "../../offchain/devnet/index.js";

/**
 * `ntx devnet chain` runs the local chain (Lucid's Emulator behind a Blockfrost-shaped API, state on disk);
 * `ntx devnet faucet` funds an address on it with devnet ADA and NTX.
 */

const ChainOptions = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  blockTime: z.coerce.number().min(0),
  stateFile: z.string().min(1),
  expose: z.boolean().default(false),
  exposeFaucet: z.boolean().default(false),
  exposeBlocks: z.boolean().default(false),
  exposeEvaluate: z.boolean().default(false),
});

const FaucetOptions = z.object({
  url: z.string().url(),
  ada: z.string().regex(/^\d+(\.\d{1,6})?$/, "ADA, e.g. 100 or 2.5"),
  ntx: z.string().regex(/^\d+$/, "NTX base units, a whole number"),
});


/** "2.5" ADA → 2500000 lovelace, exactly (no floating point). */
function adaToLovelace(ada: string): bigint {
  const [whole, fraction = ""] = ada.split(".");
  return BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
}

export function registerDevnetCommands(program: Command): void {
  const devnet = program.command("devnet").description("the local devnet");
  const defaultUrl = process.env.BLOCKFROST_URL ?? `http://127.0.0.1:${DEFAULT_DEVNET_CHAIN_PORT}`;

  devnet
    .command("chain")
    .description("run the devnet chain server (Blockfrost-compatible API backed by Lucid's Emulator)")
    .option("--port <port>", "TCP port (0 = any free port)", String(DEFAULT_DEVNET_CHAIN_PORT))
    .option("--host <host>", "address to listen on (beyond loopback only with --expose)", "127.0.0.1")
    .option("--expose", "mean it: listen on a non-loopback --host and serve the chain API to the network", false)
    .option("--expose-faucet", "let callers from the network use the faucet (default: this machine only)", false)
    .option("--expose-blocks", "let callers from the network force blocks (default: this machine only)", false)
    .option("--expose-evaluate", "let callers from the network evaluate scripts (default: this machine only)", false)
    .option("--block-time <seconds>", "seconds between blocks; 0 = blocks only on POST /devnet/block", "1")
    .option("--state-file <path>", "chain state file; its folder also keeps the faucet and NTX policy keys", ".devnet/chain/state.json")
    .action(async (raw: Record<string, string | boolean>) => {
      const options = parseOptions(ChainOptions, raw);
      const server = await startDevnetServer({
        stateFile: options.stateFile,
        port: options.port,
        host: options.host,
        blockTimeMs: Math.round(options.blockTime * 1000),
        expose: options.expose,
        openToNetwork: { faucet: options.exposeFaucet, blocks: options.exposeBlocks, evaluate: options.exposeEvaluate },
        log: (message) => console.error(`[devnet chain] ${message}`),
      });
      const info = server.info();
      console.log(JSON.stringify({ url: server.url, ntxUnit: info.ntx.unit, faucetAddress: info.faucetAddress, height: info.tip.height }));
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  devnet
    .command("faucet <address>")
    .description("fund an address with devnet ADA and devnet NTX (waits for the faucet transaction to be accepted)")
    .option("--url <url>", "devnet chain server URL", defaultUrl)
    .option("--ada <ada>", "ADA to send", "10000")
    .option("--ntx <units>", "NTX base units to mint and send", "1000000000")
    .action(async (address: string, raw: Record<string, string>) => {
      const options = parseOptions(FaucetOptions, raw);
      const result = await requestDevnetFunds(options.url, { address, lovelace: adaToLovelace(options.ada), ntx: BigInt(options.ntx) });
      console.log(JSON.stringify({ txHash: result.txHash, address, lovelace: result.lovelace.toString(), ntx: result.ntx.toString(), unit: result.unit }));
    });
}
