/**
 * The kind of the finding the agent writes when its own measuring client limited an arm's
 * measurement (its CPU share or event-loop lag in the timed window past a limit; see
 * agent/bench/client-load.ts). Findings start with their kind and ": ".
 */
export const clientBoundKind = "client-bound";

/**
 * The findings that speak against the server: all but the client-bound ones, which describe the
 * referee's own limitation (late timestamps, a client that may have held the server back) and so
 * neither fail an arm nor excuse another arm's findings. Pure.
 */
export function findingsAgainstServer(findings: readonly string[] | undefined): string[] {
  return (findings ?? []).filter((finding) => !finding.startsWith(`${clientBoundKind}: `));
}
