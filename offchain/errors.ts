/**
 * The one error type of ntx-market. `code` is stable (tests, the CLI and the API switch on it); `message` is for
 * people; `retryable` says whether trying the same call again later can help (an unreachable service) or not
 * (a bad signature). Codes map to HTTP statuses once, in `src/api/errors.ts`.
 */
export class NtxError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NtxError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.details) this.details = options.details;
  }
}

export function isNtxError(error: unknown, code?: string): error is NtxError {
  return error instanceof NtxError && (code === undefined || error.code === code);
}
