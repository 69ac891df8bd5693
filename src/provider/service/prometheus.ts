/**
 * Reads one metric out of a Prometheus text exposition (the service's health contract). Never throws: a body
 * that is not the format, or lacks the metric, gives undefined. Labels are ignored; the first sample wins.
 */
export function readMetric(body: string, metric: string): number | undefined {
  for (const raw of body.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || !line.startsWith(metric)) continue;
    let rest = line.slice(metric.length);
    if (rest.startsWith("{")) {
      const close = rest.indexOf("}");
      if (close === -1) continue;
      rest = rest.slice(close + 1);
    } else if (!/^\s/.test(rest)) continue; // a longer name that only starts with this one
    const value = rest.trim().split(/\s+/)[0] ?? "";
    if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^[-+]?Inf$|^NaN$/.test(value)) continue;
    return value.endsWith("Inf") ? (value.startsWith("-") ? -Infinity : Infinity) : Number(value);
  }
  return undefined;
}
