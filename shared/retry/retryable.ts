import { Code, ConnectError } from "@connectrpc/connect";
import type { ErrorCode } from "../errors/cacheon-error.ts";
import { CacheonError } from "../errors/cacheon-error.ts";

/** Whether an error is worth retrying, and why. */
export interface RetryDecision {
  retryable: boolean;
  reason: string;
}

/**
 * The one table that decides what a dial-out client retries. Everything the network or a busy
 * controller can cause is retried with backoff; everything that retrying cannot fix (a refused
 * credential, a malformed message, a bug) is fatal and surfaces to the operator.
 */
const byCode: Record<ErrorCode, RetryDecision> = {
  unavailable: {
    retryable: true,
    reason: "the peer did not answer or the connection dropped; it may come back",
  },
  "deadline-exceeded": {
    retryable: true,
    reason: "a deadline passed (missed heartbeats); a new connection may work",
  },
  "resource-exhausted": {
    retryable: true,
    reason:
      "a rate or size limit was hit; backing off lets the limit recover (an oversized message will fail again and is logged)",
  },
  cancelled: {
    retryable: true,
    reason: "the peer cancelled the stream (e.g. a newer session replaced it, the server restarted)",
  },
  internal: {
    retryable: true,
    reason: "a fault on the peer's side; it is usually transient, and backoff bounds the cost",
  },
  "not-found": {
    retryable: false,
    reason: "the thing asked for does not exist; retrying will not create it",
  },
  "invalid-argument": {
    retryable: false,
    reason: "the message was malformed; the same message will be refused again",
  },
  "invalid-config": { retryable: false, reason: "configuration is wrong; fix it and restart" },
  "permission-denied": {
    retryable: false,
    reason: "credential refused (used, expired, forged, wrong pod); enrol again with a new token",
  },
  "failed-precondition": {
    retryable: false,
    reason: "the request conflicts with the peer's state (e.g. pod already enrolled)",
  },
};

/** Mapping of gRPC/Connect status codes onto the project's error codes. */
const fromConnectCode: Record<Code, ErrorCode> = {
  [Code.Canceled]: "cancelled",
  [Code.Unknown]: "internal",
  [Code.InvalidArgument]: "invalid-argument",
  [Code.DeadlineExceeded]: "deadline-exceeded",
  [Code.NotFound]: "not-found",
  [Code.AlreadyExists]: "failed-precondition",
  [Code.PermissionDenied]: "permission-denied",
  [Code.ResourceExhausted]: "resource-exhausted",
  [Code.FailedPrecondition]: "failed-precondition",
  [Code.Aborted]: "unavailable",
  [Code.OutOfRange]: "invalid-argument",
  [Code.Unimplemented]: "failed-precondition",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "internal",
  [Code.Unauthenticated]: "permission-denied",
};

/** Translates a gRPC/Connect error (or any thrown value) into a CacheonError; the one edge for RPC errors. */
export function cacheonErrorFromRpc(error: unknown, what: string): CacheonError {
  if (error instanceof CacheonError) return error;
  if (error instanceof ConnectError) {
    return new CacheonError(
      fromConnectCode[error.code],
      `${what}: ${error.rawMessage} (gRPC ${Code[error.code]})`,
      {
        cause: error,
      },
    );
  }
  const err = CacheonError.from(error, "unavailable");
  return new CacheonError(err.code, `${what}: ${err.message}`, { cause: error });
}

/** Decides whether `error` is retryable, from the table above. */
export function retryDecision(error: unknown): RetryDecision {
  const code = cacheonErrorFromRpc(error, "").code;
  return byCode[code];
}

/** Shorthand for `retryDecision(error).retryable`. */
export function isRetryable(error: unknown): boolean {
  return retryDecision(error).retryable;
}
