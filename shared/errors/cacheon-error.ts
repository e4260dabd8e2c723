/**
 * The closed set of error codes used at every boundary (RPC, CLI exit, logs). Platform errors
 * (Docker, S3, chain, network) are translated into one of these at the edge that meets them.
 */
export type ErrorCode =
  /** The caller's input is malformed: fix the input. */
  | "invalid-argument"
  /** Configuration is missing or invalid: fix the config file, environment or flags. */
  | "invalid-config"
  /** Something the caller asked for does not exist. */
  | "not-found"
  /** The caller is not allowed to do this (bad token, wrong pod, no permit). */
  | "permission-denied"
  /** The request conflicts with current state (already enrolled, rate limited). */
  | "failed-precondition"
  /** A dependency (Docker, registry, chain, S3, controller) did not answer: retry later. */
  | "unavailable"
  /** A deadline passed. */
  | "deadline-exceeded"
  /** The work was cancelled through an AbortSignal. */
  | "cancelled"
  /** A limit was exceeded (size, rate, count). */
  | "resource-exhausted"
  /** A bug or an impossible state. */
  | "internal";

/** One error type for the whole project; `code` decides handling, `message` tells a person what to do. */
export class CacheonError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CacheonError";
    this.code = code;
  }

  /** Wraps anything thrown into a CacheonError, keeping CacheonErrors as they are. */
  static from(error: unknown, code: ErrorCode = "internal"): CacheonError {
    if (error instanceof CacheonError) return error;
    if (error instanceof Error && error.name === "AbortError") {
      return new CacheonError("cancelled", error.message, { cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new CacheonError(code, message, { cause: error });
  }
}
