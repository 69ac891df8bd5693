import type { Command } from "commander";

export function registerDevnetCommands(program: Command): void {
  void program;
}
