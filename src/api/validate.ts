import type { z } from "zod/v4";
import { NtxError } from "../../offchain/errors.js";

/** Parses one part of a request; the first problem becomes a 400 naming the field. */
export function parseRequest<T extends z.ZodTypeAny>(schema: T, value: unknown, where: "body" | "params" | "query"): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? `${where}.${issue.path.join(".")}` : where;
  throw new NtxError("INVALID_REQUEST", `${path}: ${issue?.message ?? "invalid"}`, { details: { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: [where, ...i.path].join("."), message: i.message })) } });
}
