/**
 * Which hosts are this machine only. A service listens beyond them only when asked by name, and says what it
 * exposes; the devnet's free-for-all endpoints (faucet, forced blocks, script evaluation) answer only callers on
 * this machine unless each is opened separately.
 */
import { isIP } from "node:net";

/** 127.0.0.0/8, ::1, "localhost" (and IPv4-mapped loopback). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (h === "::1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped ? mapped[1]!.startsWith("127.") : false;
}

/** A caller's socket address is this machine. */
export function isLoopbackRemote(address: string | undefined): boolean {
  return address !== undefined && isLoopbackHost(address);
}

/** The line a service prints when it listens beyond loopback: where, and what anyone who reaches it can use. */
export function exposureNotice(service: string, url: string, exposed: string[]): string {
  return `WARNING: ${service} listens on ${url}, reachable beyond this machine. Exposed: ${exposed.join("; ")}.`;
}
