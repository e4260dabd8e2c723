import type { ConfigSchema } from "../../shared/config/config-schema.ts";

/**
 * Settings of /healthz: how long each loop may go without succeeding or progressing before it
 * is stuck. A stuck rounds or weights loop turns /healthz 503; the fleet is only reported.
 */
export const healthConfigSchema = {
  "health.roundsStuckMinutes": {
    type: "number",
    doc: "The round loop is stuck after this long with no round step (job started or finished, round settled) and no finished cycle; keep it above rounds.jobTimeoutMinutes.",
    default: 150,
    min: 1,
  },
  "health.weightsStuckMinutes": {
    type: "number",
    doc: "The weight loop is stuck after this long with no successful weight check (a hung or failing extrinsic, an unreachable chain).",
    default: 30,
    min: 1,
  },
  "health.fleetStuckMinutes": {
    type: "number",
    doc: "The fleet's housekeeping is reported stuck after this long without a finished pass (reported only; it does not turn /healthz 503).",
    default: 10,
    min: 1,
  },
} satisfies ConfigSchema;

/** Health limits, ms. */
export interface HealthSettings {
  roundsStuckMs: number;
  weightsStuckMs: number;
  fleetStuckMs: number;
}
