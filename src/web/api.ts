/** The API client of the page: JSON in and out, every failure an ApiError with a code and a human message. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly retryable = false, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

export async function api<T = any>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch {
    throw new ApiError("API_UNREACHABLE", "The ntx-market API cannot be reached. Check your connection and that the server is running.", true);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError("API_BAD_RESPONSE", `The API answered ${response.status} with something that is not JSON.`, response.status >= 500);
  }
  if (!response.ok) {
    const e = parsed?.error;
    throw new ApiError(e?.code ?? `HTTP_${response.status}`, e?.message ?? `The API answered ${response.status}.`, e?.retryable ?? response.status >= 500, e?.details);
  }
  return parsed as T;
}

/** A server message fit to show as is: one short line, no dumps, no BigInt literals, no long hex. */
function plain(message: string): boolean {
  return message.length <= 200 && !/[\n{}[\]]|\d+n\b|[0-9a-f]{40,}/i.test(message);
}

/**
 * What the page tells a person for an API error: a plain sentence for every code a buyer meets, the server's
 * own message only when it is one short plain line, never a raw dump.
 */
export function apiErrorText(error: unknown, ntx: (units: string) => string = (u) => `${u} NTX base units`, ada: (lovelace: string) => string = (l) => `${l} lovelace`): string {
  if (!(error instanceof ApiError)) {
    const message = error instanceof Error ? error.message : String(error);
    return plain(message) ? message : "Something went wrong in the page. Reload it and try again.";
  }
  const d = (error.details ?? {}) as Record<string, string | undefined>;
  const has = (k: string) => typeof d[k] === "string";
  const hint: Record<string, string> = {
    INSUFFICIENT_NTX: has("needNtx") && has("ntx")
      ? `Not enough NTX: this job needs up to ${ntx(d.needNtx!)}, the wallet holds ${ntx(d.ntx!)}.`
      : has("amount") && has("held") ? `Not enough NTX: this job costs ${ntx(d.amount!)}, the wallet holds ${ntx(d.held!)}.` : "Not enough NTX in this wallet for the job.",
    INSUFFICIENT_FUNDS: has("needLovelace") && has("lovelace")
      ? `Not enough ADA: the lock needs about ${ada(d.needLovelace!)} (min-ADA kept with the escrow and returned later, the fee, and the ADA your NTX change must carry); the wallet holds ${ada(d.lovelace!)}.`
      : "Not enough ADA in this wallet for the fee and the escrow's min-ADA (about 2.5 ADA).",
    WALLET_NO_UTXOS: "This wallet has no funds on this network yet (or its last transaction is not confirmed). Fund it and try again.",
    CHAIN_UNREACHABLE: "The chain is not reachable right now; try again in a moment.",
    CHAIN_UNAVAILABLE: "The chain is not available right now; try again in a moment.",
    NATS_UNAVAILABLE: "The market is not reachable right now; try again in a moment.",
    CHAIN_TX_REJECTED: "The chain refused the transaction. Reload the job and try again.",
    TX_BUILD_FAILED: "The transaction could not be built for this wallet. Check its funds and try again.",
    TX_SIGN_FAILED: "The wallet's signature does not fit the transaction. Try again.",
    JOB_NOT_MATCHED: "The job has no confirmed provider yet.",
    ESCROW_EXISTS: "This job is already paid for.",
    LOCK_PENDING: "A payment for this job is already on its way; wait for it to confirm.",
    PRICE_MISMATCH: "The job's price changed; reload it before paying.",
    ESCROW_NOT_FOUND: "This job has no escrow on the chain: it was never locked, or it is already settled.",
    NOT_THE_BUYER: "This wallet did not pay for this job: connect the wallet that locked it.",
    NO_ARBITER: "This job's escrow names no arbiter, so it cannot be disputed.",
    WINDOW_CLOSED: "The challenge window is over: the job can no longer be disputed.",
    DEADLINE_NOT_REACHED: "The deadline has not passed yet: the refund opens then.",
    RESULT_NOT_FOUND: "The provider has not stored this job's outputs (yet).",
    JOB_EXISTS: "A bid for this exact job is already in the market.",
    MARKET_EXPIRED: "The bid expired before it reached the market; try again.",
    API_UNREACHABLE: error.message,
  };
  if (hint[error.code]) return hint[error.code]!;
  return plain(error.message) ? `${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`.replace(/\.\.$/, ".") : `The server could not do this (${error.code}). Try again; reload the page if it keeps failing.`;
}
