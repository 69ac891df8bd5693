import type { Command } from "commander";
import { z } from "zod/v4";
import { parseOptions } from "./options.js";
import { LUCID_NETWORK, NETWORKS, escrowRef, escrowScript, ntxAsset } from "../../offchain/index.js";

/**
 * `ntx escrow script` prints the escrow script of a network (hash, address, NTX asset): what to configure and
 * what to look for on an explorer. `ntx escrow ref` prints the escrow reference a completion proof signs.
 */

const ScriptOptions = z.object({
  network: z.enum(NETWORKS),
  ntxPolicy: z.string().optional(),
  ntxName: z.string().optional(),
});

const RefOptions = z.object({
  txHash: z.string().regex(/^[0-9a-f]{64}$/, "32 bytes of lowercase hex"),
  index: z.coerce.number().int().min(0),
});


export function registerEscrowCommands(program: Command): void {
  const escrow = program.command("escrow").description("the NTX job escrow (Plutus V3)");
  escrow
    .command("script")
    .description("print the escrow script hash and address of a network")
    .requiredOption("--network <network>", `one of ${NETWORKS.join(", ")}`)
    .option("--ntx-policy <hex>", "NTX policy id (required except on mainnet)")
    .option("--ntx-name <hex>", "NTX asset name, hex (default 4e5458)")
    .action((raw: unknown) => {
      const o = parseOptions(ScriptOptions, raw);
      const configured = o.ntxPolicy === undefined ? undefined : { policyId: o.ntxPolicy, assetName: o.ntxName ?? "4e5458" };
      const ntx = ntxAsset(o.network, configured);
      const script = escrowScript(ntx, LUCID_NETWORK[o.network]);
      console.log(JSON.stringify({ network: o.network, hash: script.hash, address: script.address, ntx }, null, 2));
    });
  escrow
    .command("ref")
    .description("print the escrow reference (signed in completion proofs) of an escrow out-ref")
    .requiredOption("--tx-hash <hex>", "transaction that created the escrow")
    .requiredOption("--index <n>", "output index of the escrow")
    .action((raw: unknown) => {
      const o = parseOptions(RefOptions, raw);
      console.log(escrowRef({ txHash: o.txHash, outputIndex: o.index }));
    });
}
