/**
 * CPU time of the run's processes from /proc (user + system, every thread of the process), so the load report can
 * say where a job's CPU went: harness, chain server, NATS, matchers, provider processes, API.
 */
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds a process has used so far; null when it is gone or unreadable. */
export function cpuSecondsOf(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** CPU seconds per named process; the load harness itself as "load-harness". */
export function cpuSnapshot(pids: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const s = cpuSecondsOf(pid);
    if (s !== null) out[name] = s;
  }
  const self = process.cpuUsage();
  out["load-harness"] = (self.user + self.system) / 1e6;
  return out;
}

export function cpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(after)) out[name] = +(s - (before[name] ?? 0)).toFixed(1);
  return out;
}
