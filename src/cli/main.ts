#!/usr/bin/env node
import { Command } from "commander";
import { isNtxError } from "../../offchain/errors.js";
import { registerDevnetCommands } from "./devnet.js";
import { registerEscrowCommands } from "./escrow.js";
import { registerJobCommands } from "./job.js";
import { registerMatcherCommands } from "./matcher.js";
import { registerPoolCommands } from "./pool.js";
import { registerProviderCommands } from "./provider.js";
import { registerUpCommands } from "./up.js";

const program = new Command("ntx").description("ntx-market: a compute marketplace paid in NTX through a Cardano escrow");
registerDevnetCommands(program);
registerEscrowCommands(program);
registerJobCommands(program);
registerMatcherCommands(program);
registerPoolCommands(program);
registerProviderCommands(program);
registerUpCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // People get the message, scripts get the code and a non-zero exit.
  if (isNtxError(error)) console.error(`ntx: ${error.message} [${error.code}]`);
  else console.error(`ntx: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
