/**
 * JSON with bigints kept exact: the persisted chain state holds lovelace amounts above 2^53, so bigints are
 * written as `{"$bigint": "…"}` and read back as bigints.
 */
export function stringifyWithBigints(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? { $bigint: v.toString() } : v));
}

export function parseWithBigints(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const record = v as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length === 1 && keys[0] === "$bigint" && typeof record.$bigint === "string") return BigInt(record.$bigint);
    }
    return v;
  });
}
