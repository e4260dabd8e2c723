import type { LoopStatus } from "./loop-monitor.ts";

/** What /healthz answers. */
export interface HealthReport {
  /** False when the store cannot be read or a critical loop is stuck. */
  ok: boolean;
  /** "ok", or why the store cannot be read. */
  store: string;
  /** Names of the critical loops stuck beyond their limit, e.g. ["weights"]. */
  stuck: string[];
  /** Every loop, critical or not, with its last success, last error and stuck-for. */
  loops: LoopStatus[];
}

/** Decides the controller's health from its loops and whether its store answers (pure). */
export function healthReport(input: {
  loops: readonly LoopStatus[];
  storeError?: string | undefined;
}): HealthReport {
  const stuck = input.loops.filter((l) => l.critical && l.stuck).map((l) => l.name);
  const store = input.storeError === undefined ? "ok" : input.storeError;
  return { ok: store === "ok" && stuck.length === 0, store, stuck, loops: [...input.loops] };
}
