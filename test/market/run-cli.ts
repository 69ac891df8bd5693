// `ntx matcher` on its own (without the other areas' commands), for the CLI test.
import { Command } from "commander";
import { registerMatcherCommands } from "../../src/cli/matcher.js";

const program = new Command("ntx");
registerMatcherCommands(program);
await program.parseAsync(process.argv);
