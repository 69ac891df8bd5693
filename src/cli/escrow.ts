import type { Command } from "commander";

export function registerEscrowCommands(program: Command): void {
  void program;
}
