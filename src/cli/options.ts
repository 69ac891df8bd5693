import type { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Validates a command's options (as commander hands them over); every problem is named by its flag. */
export function parseOptions<T>(schema: z.ZodType<T, unknown>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `--${kebab(String(issue.path[0] ?? "option"))}: ${issue.message}`);
  throw new NtxError("CLI_BAD_OPTION", problems.join("; "));
}
