import type { Command } from "commander";

export function registerMatcherCommands(program: Command): void {
  void program;
}
