/**
 * Amounts as people read them: NTX with the token's decimals (never base units), ADA from lovelace, times in
 * local clock time with how far away they are.
 */

/** Base units → "1,234.5 NTX"-style text (no trailing zeros, thousands grouped). */
export function formatNtx(units: string | bigint, decimals: number): string {
  const value = BigInt(units);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = (abs / scale).toLocaleString("en-US");
  const fraction = decimals > 0 ? (abs % scale).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""} NTX`;
}

/** "12.5" NTX typed by a person → base units; null when it is not a plain non-negative amount with ≤ decimals places. */
export function parseNtx(text: string, decimals: number): bigint | null {
  const t = text.trim().replace(/,/g, "").replace(/\s*NTX$/i, "");
  const m = /^(\d{1,30})(?:\.(\d*))?$/.exec(t);
  if (!m) return null;
  const fraction = m[2] ?? "";
  if (fraction.length > decimals) return null;
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

/** Lovelace as ADA to the cent, rounded to nearest ("1.97 ADA"). */
export function formatAda(lovelace: string | bigint): string {
  const cents = (BigInt(lovelace) + 5_000n) / 10_000n;
  const whole = (cents / 100n).toLocaleString("en-US");
  const fraction = (cents % 100n).toString().padStart(2, "0").replace(/0+$/, "");
  return `${whole}${fraction ? `.${fraction}` : ""} ADA`;
}

/** "14:03:12 (in 2 min)" */
export function formatWhen(at: number, now = Date.now()): string {
  const clock = new Date(at).toLocaleTimeString("en-GB");
  const s = Math.round((at - now) / 1000);
  const span = (n: number) => (n >= 120 * 60 ? `${Math.round(n / 3600)} h` : n >= 120 ? `${Math.round(n / 60)} min` : `${n} s`);
  return s >= 0 ? `${clock} (in ${span(s)})` : `${clock} (${span(-s)} ago)`;
}
