import { Code, ConnectError } from "@connectrpc/connect";
import { CacheonError, type ErrorCode } from "../../shared/errors/cacheon-error.ts";

const toConnectCode: Record<ErrorCode, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "invalid-config": Code.FailedPrecondition,
  "not-found": Code.NotFound,
  "permission-denied": Code.PermissionDenied,
  "failed-precondition": Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  "deadline-exceeded": Code.DeadlineExceeded,
  cancelled: Code.Canceled,
  "resource-exhausted": Code.ResourceExhausted,
  internal: Code.Internal,
};

/** Translates anything thrown inside a handler into the gRPC status the peer sees; the one edge for it. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const err = CacheonError.from(error);
  return new ConnectError(err.message, toConnectCode[err.code], undefined, undefined, error);
}
