import { CacheonError, type ErrorCode } from "../../shared/errors/cacheon-error.ts";

/**
 * Translates an error from dockerode (HTTP status from the engine, or a socket error) into a
 * CacheonError whose message says what failed (`what`) and what to do. The one place Docker
 * errors become project errors.
 */
export function dockerError(error: unknown, what: string): CacheonError {
  if (error instanceof CacheonError) return error;
  const e = error as { statusCode?: number; code?: string; json?: { message?: string }; message?: string };
  const detail = e?.json?.message ?? e?.message ?? String(error);
  if (e?.code === "ENOENT" || e?.code === "ECONNREFUSED" || e?.code === "EACCES") {
    return new CacheonError(
      "unavailable",
      `${what}: cannot reach the Docker engine (${e.code}: ${detail}). Start dockerd and check the socket path and its permissions.`,
      { cause: error },
    );
  }
  const byStatus: Record<number, [ErrorCode, string]> = {
    400: ["invalid-argument", "the engine refused the request; check the options"],
    401: ["permission-denied", "the registry refused the credentials; check them"],
    403: ["permission-denied", "access was denied; check registry credentials and permissions"],
    404: ["not-found", "it does not exist; check the name or digest"],
    409: [
      "failed-precondition",
      "it conflicts with the engine's state (name in use or container not running)",
    ],
    500: ["unavailable", "the engine failed; read its log (journalctl -u docker) and retry"],
    503: ["unavailable", "the engine is not ready; retry later"],
  };
  const mapped = e?.statusCode !== undefined ? byStatus[e.statusCode] : undefined;
  if (mapped) {
    return new CacheonError(mapped[0], `${what}: ${detail} (${mapped[1]})`, { cause: error });
  }
  return new CacheonError("unavailable", `${what}: ${detail}`, { cause: error });
}
