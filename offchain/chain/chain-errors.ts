import { NtxError } from "../errors.js";

/**
 * Turns what blockfrost-js, fetch or Lucid's provider throw into NtxErrors that say what to check. Network
 * failures and server-side errors are retryable; a refused transaction or a refused project id is not.
 */
export function chainError(error: unknown, what: string, url: string): NtxError {
  if (error instanceof NtxError) return error;
  const e = error as { name?: string; status_code?: number; code?: string; message?: string; cause?: { code?: string } };
  const message = e?.message ?? String(error);
  const status = e?.status_code;
  if (status === 400) return new NtxError("CHAIN_BAD_REQUEST", `${what}: the chain refused the request: ${message}`, { cause: error, details: { url } });
  if (status === 401 || status === 403) {
    return new NtxError("CHAIN_AUTH_FAILED", `${what}: ${url} refused the project id (${status}): check BLOCKFROST_PROJECT_ID is set and belongs to this network`, { cause: error, details: { url } });
  }
  if (status === 429 || status === 418) {
    return new NtxError("CHAIN_RATE_LIMITED", `${what}: ${url} is rate-limiting this project id (${status}); retry later or raise the Blockfrost plan`, { retryable: true, cause: error, details: { url } });
  }
  if (status !== undefined && status >= 500) {
    return new NtxError("CHAIN_UNAVAILABLE", `${what}: ${url} answered ${status} (${message}); the chain back end is failing — retry, and check the devnet chain server's log or Blockfrost's status page`, { retryable: true, cause: error, details: { url } });
  }
  const code = e?.code ?? e?.cause?.code;
  if (code && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR/.test(code)) {
    return new NtxError("CHAIN_UNREACHABLE", `${what}: cannot reach the chain at ${url} (${code}); check that the devnet chain server is running (\`ntx devnet chain\`) or that BLOCKFROST_URL is right and the network is up`, { retryable: true, cause: error, details: { url } });
  }
  if (e?.name === "TimeoutError" || /timeout/i.test(message)) {
    return new NtxError("CHAIN_UNREACHABLE", `${what}: the chain at ${url} did not answer in time; check the chain server / network and retry`, { retryable: true, cause: error, details: { url } });
  }
  if (/fetch failed|Could not fetch|Could not submit/i.test(message)) {
    return new NtxError("CHAIN_UNREACHABLE", `${what}: cannot reach the chain at ${url} (${message}); check that the devnet chain server is running (\`ntx devnet chain\`) or that BLOCKFROST_URL is right`, { retryable: true, cause: error, details: { url } });
  }
  return new NtxError("CHAIN_UNAVAILABLE", `${what}: ${message} (chain at ${url})`, { retryable: true, cause: error, details: { url } });
}

export function isNotFound(error: unknown): boolean {
  return (error as { status_code?: number })?.status_code === 404;
}
