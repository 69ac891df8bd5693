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

/** What the page tells a person for an API error: the server's message plus what to do for the common ones. */
export function apiErrorText(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  const hint: Record<string, string> = {
    INSUFFICIENT_NTX: "Not enough NTX in this wallet for the job.",
    INSUFFICIENT_FUNDS: "Not enough ADA in this wallet for fees and the escrow's minimum ADA.",
    WALLET_NO_UTXOS: "This wallet has no funds on this network yet.",
    CHAIN_UNREACHABLE: "The chain is not reachable right now; try again in a moment.",
    CHAIN_UNAVAILABLE: "The chain is not available right now; try again in a moment.",
    NATS_UNAVAILABLE: "The market is not reachable right now; try again in a moment.",
    CHAIN_TX_REJECTED: "The chain refused the transaction.",
    JOB_NOT_MATCHED: "The job has no provider yet.",
    ESCROW_EXISTS: "This job is already paid for.",
    LOCK_PENDING: "A payment for this job is already on its way; wait for it to confirm.",
    PRICE_MISMATCH: "The job's price changed; reload it before paying.",
  };
  return hint[error.code] ? `${hint[error.code]} (${error.code}: ${error.message})` : `${error.message} (${error.code})`;
}
