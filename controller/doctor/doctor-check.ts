/** How one check of `cacheon-controller doctor` came out. */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** One finding: what was checked, what was found and, when something is wrong, what to do. */
export interface DoctorCheck {
  /** Stable id for --json readers and --only, e.g. "wallet", "chain", "tls". */
  id: string;
  /** What was checked, for people: "chain endpoint ws://...". */
  title: string;
  status: CheckStatus;
  /** One line: what was found. */
  summary: string;
  /** Further facts (addresses, versions, who holds a lock). */
  details?: string[];
  /** What to do about it; set for warn and fail. */
  fix?: string;
}

/** A passing check. */
export function ok(id: string, title: string, summary: string, details?: string[]): DoctorCheck {
  return { id, title, status: "ok", summary, ...(details?.length ? { details } : {}) };
}

/** A check that needs attention but does not stop a controller. */
export function warn(
  id: string,
  title: string,
  summary: string,
  fix: string,
  details?: string[],
): DoctorCheck {
  return problem("warn", { id, title, summary, fix, details });
}

/** A check that must be fixed before the controller can do its job. */
export function fail(
  id: string,
  title: string,
  summary: string,
  fix: string,
  details?: string[],
): DoctorCheck {
  return problem("fail", { id, title, summary, fix, details });
}

function problem(
  status: "warn" | "fail",
  c: { id: string; title: string; summary: string; fix: string; details: string[] | undefined },
): DoctorCheck {
  const { details, ...rest } = c;
  return { ...rest, status, ...(details?.length ? { details } : {}) };
}

/** A check that could not run because an earlier one failed or it does not apply. */
export function skip(id: string, title: string, why: string): DoctorCheck {
  return { id, title, status: "skip", summary: why };
}

/** 0 when nothing is to fix, 1 otherwise; with `strict`, warnings count as something to fix. */
export function doctorExitCode(checks: readonly DoctorCheck[], options: { strict?: boolean } = {}): 0 | 1 {
  return checks.some((c) => c.status === "fail" || (options.strict && c.status === "warn")) ? 1 : 0;
}

const marks: Record<CheckStatus, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

/** The report for a terminal: failures and warnings with their fix, then a one-line verdict. */
export function formatDoctorReport(checks: readonly DoctorCheck[]): string {
  const width = Math.min(34, Math.max(...checks.map((c) => c.title.length), 5));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${marks[c.status]}  ${c.title.padEnd(width)}  ${c.summary}`);
    for (const d of c.details ?? []) lines.push(`${" ".repeat(width + 8)}${d}`);
    if (c.fix && c.status !== "ok") lines.push(`${" ".repeat(width + 8)}fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  lines.push(
    "",
    failed === 0 && warned === 0
      ? `all ${checks.length} checks passed${checks.some((c) => c.status === "skip") ? " (some did not apply)" : ""}`
      : `${failed} to fix, ${warned} warning${warned === 1 ? "" : "s"} (of ${checks.length} checks)`,
  );
  return lines.join("\n");
}
