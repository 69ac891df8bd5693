import type { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";

/** Parses one part of a request; the first problem becomes a 400 naming the field. */
export function parseRequest<T extends z.ZodTypeAny>(schema: T, value: unknown, where: "body" | "params" | "query"): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  // A list longer than its route allows is a limit, told apart from a malformed request by its own code.
  const tooMany = parsed.error.issues.find((i): i is Extract<typeof i, { code: "too_big" }> => i.code === "too_big" && i.origin === "array");
  if (tooMany) {
    const at = [where, ...tooMany.path].join(".");
    throw new NtxError("TOO_MANY_ITEMS", `${at}: at most ${String(tooMany.maximum)} items`, { details: { path: at, maximum: Number(tooMany.maximum) } });
  }
  const path = issue?.path.length ? `${where}.${issue.path.join(".")}` : where;
  throw new NtxError("INVALID_REQUEST", `${path}: ${issue?.message ?? "invalid"}`, { details: { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: [where, ...i.path].join("."), message: i.message })) } });
}
