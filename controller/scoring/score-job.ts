import type { ScoringPolicy } from "./scoring-policy.ts";

/** Why an image is in a job (mirrors cacheon.v1.ArmRole as plain strings). */
export type ArmRoleName = "opening-baseline" | "leader" | "runner-up" | "challenger" | "closing-baseline";

/** How an arm ended (mirrors cacheon.v1.ArmOutcome). */
export type ArmOutcomeName =
  | "measured"
  | "pull-failed"
  | "never-ready"
  | "crashed"
  | "broken-output"
  | "cancelled"
  | "unspecified";

/** One arm's measurement as plain data: what the policy needs from an ArmResult. */
export interface ArmMeasurement {
  armId: string;
  role: ArmRoleName;
  /** Store id of the submission; "" for the baseline. */
  submissionId: string;
  outcome: ArmOutcomeName;
  /** Why the arm was not measured, when it was not. */
  reason: string;
  /** Median wall time of the timed workload's repetitions, seconds. */
  wallS: number;
  /** Coefficient of variation of the repetitions' wall times (0 when one repetition). */
  wallCv: number;
  /** Repetitions measured (at least 1 when measured). */
  repetitions: number;
  /** Scored requests sent and failed. */
  requests: number;
  failedRequests: number;
  /** The agent's correctness verdict against the opening baseline; undefined for the baseline. */
  correctnessPassed: boolean | undefined;
  /** The agent's failure reasons, one line each. */
  correctnessReasons: string[];
  /** Suspicious behaviour the agent saw (e.g. later repetitions much faster: cached responses). */
  findings?: readonly string[] | undefined;
}

/** Gate outcome and speed of one arm. */
export interface ArmScore {
  armId: string;
  role: ArmRoleName;
  submissionId: string;
  /** "pass" when measured and correct; anything failing scores zero. */
  gate: "pass" | "fail";
  /** Why the gate failed, for the miner's report. */
  reason: string;
  /** Baseline wall time / this arm's wall time; 0 when the gate failed. */
  speed: number;
  wallS: number;
  /** Standard error of the arm's wall time relative to it: wallCv / sqrt(repetitions). */
  relativeError: number;
}

/** The verdict on one job's measurements. */
export interface JobScore {
  /**
   * "decided": the bookends agree and every arm has a score. "no-decision": the pod drifted
   * (bookends disagree beyond the limit) and the job must be rerun. "invalid": a baseline
   * arm was not measured, so nothing on this pod can be compared; rerun elsewhere.
   */
  decision: "decided" | "no-decision" | "invalid";
  reason: string;
  /** Mean of the two bookends' wall times, seconds (0 when invalid). */
  baselineWallS: number;
  /** |B' - B| / mean(B, B'). */
  bookendSpread: number;
  arms: ArmScore[];
}

/** Scores a job's arms against its bookends. Pure. */
export function scoreJob(arms: readonly ArmMeasurement[], policy: ScoringPolicy): JobScore {
  const opening = arms.find((a) => a.role === "opening-baseline");
  const closing = arms.find((a) => a.role === "closing-baseline");
  const invalid = (reason: string): JobScore => ({
    decision: "invalid",
    reason,
    baselineWallS: 0,
    bookendSpread: 0,
    arms: arms.filter((a) => !isBaseline(a.role)).map((a) => gateOnly(a, policy, 0)),
  });
  if (!opening || !closing) return invalid("the job lacks an opening or a closing baseline arm");
  for (const bookend of [opening, closing]) {
    if (bookend.outcome !== "measured" || !(bookend.wallS > 0)) {
      return invalid(
        `the ${bookend.role} was not measured (${bookend.outcome}${bookend.reason ? `: ${bookend.reason}` : ""}); the pod cannot compare anything`,
      );
    }
  }
  const baselineWallS = (opening.wallS + closing.wallS) / 2;
  const bookendSpread = Math.abs(closing.wallS - opening.wallS) / baselineWallS;
  // Findings the baseline shows as well (say, prefix caching in the reference server) are the
  // workload's doing, not evidence against a challenger.
  const baselineFindings = (opening.findings?.length ?? 0) + (closing.findings?.length ?? 0) > 0;
  const scored = arms
    .filter((a) => !isBaseline(a.role))
    .map((a) => gateOnly(a, policy, baselineWallS, baselineFindings));
  if (bookendSpread > policy.bookendLimit) {
    return {
      decision: "no-decision",
      reason: `baseline bookends disagree by ${pct(bookendSpread)} (limit ${pct(policy.bookendLimit)}): the pod drifted during the job; rerun`,
      baselineWallS,
      bookendSpread,
      arms: scored,
    };
  }
  const brokenReference = scored.find(
    (a) => (a.role === "leader" || a.role === "runner-up") && a.gate === "fail",
  );
  if (brokenReference) {
    return {
      decision: "no-decision",
      reason: `the ${brokenReference.role} failed on this pod (${brokenReference.reason}); challengers cannot be compared with it here; rerun on another pod`,
      baselineWallS,
      bookendSpread,
      arms: scored,
    };
  }
  return { decision: "decided", reason: "", baselineWallS, bookendSpread, arms: scored };
}

function gateOnly(
  arm: ArmMeasurement,
  policy: ScoringPolicy,
  baselineWallS: number,
  baselineFindings = false,
): ArmScore {
  const relativeError = arm.repetitions > 0 ? arm.wallCv / Math.sqrt(arm.repetitions) : 0;
  const base = {
    armId: arm.armId,
    role: arm.role,
    submissionId: arm.submissionId,
    wallS: arm.wallS,
    relativeError,
  };
  const fail = (reason: string): ArmScore => ({ ...base, gate: "fail", reason, speed: 0 });
  if (arm.outcome !== "measured") {
    return fail(`not measured: ${arm.outcome}${arm.reason ? ` (${arm.reason})` : ""}`);
  }
  if (!(arm.wallS > 0) || !Number.isFinite(arm.wallS)) return fail(`no valid wall time (${arm.wallS})`);
  if (arm.correctnessPassed !== true) {
    const why =
      arm.correctnessReasons.length > 0 ? arm.correctnessReasons.join("; ") : "no evidence reported";
    return fail(`correctness gate failed: ${why}`);
  }
  const failedFraction = arm.requests > 0 ? arm.failedRequests / arm.requests : 1;
  if (failedFraction > policy.maxFailedRequestFraction) {
    return fail(
      `${arm.failedRequests} of ${arm.requests} scored requests failed (allowed ${pct(policy.maxFailedRequestFraction)})`,
    );
  }
  if (policy.failOnFindings && !baselineFindings && arm.findings && arm.findings.length > 0) {
    return fail(`flagged by the agent: ${arm.findings.join("; ")}`);
  }
  return { ...base, gate: "pass", reason: "", speed: baselineWallS > 0 ? baselineWallS / arm.wallS : 0 };
}

/** A same-pod comparison of a challenger with the arm it would displace. */
export interface PodComparison {
  /** reference wall / challenger wall: above 1 means the challenger was faster. */
  ratio: number;
  /** Noise on this pod for this pair: max(bookend spread, combined standard error). */
  noise: number;
  /** The ratio needed: 1 + max(minMargin, k x noise). */
  bar: number;
  /** ratio > bar. */
  beats: boolean;
}

/**
 * Compares a challenger with a reference arm (leader, runner-up, or the baseline when the
 * reference is undefined) measured in the same job. Only a decided job and two passing arms
 * compare; anything else never "beats" (a job whose leader failed is no decision, see scoreJob).
 */
export function compareOnPod(
  job: JobScore,
  challenger: ArmScore,
  reference: ArmScore | undefined,
  policy: ScoringPolicy,
): PodComparison {
  const refWall = reference ? reference.wallS : job.baselineWallS;
  const refError = reference ? reference.relativeError : job.bookendSpread / 2;
  const combined = Math.sqrt(challenger.relativeError ** 2 + refError ** 2);
  const noise = Math.max(job.bookendSpread, combined);
  const bar = 1 + Math.max(policy.minMargin, policy.noiseMultiplier * noise);
  if (job.decision !== "decided" || challenger.gate !== "pass") {
    return { ratio: 0, noise, bar, beats: false };
  }
  if (reference && reference.gate !== "pass") return { ratio: 0, noise, bar, beats: false };
  const ratio = refWall / challenger.wallS;
  return { ratio, noise, bar, beats: ratio > bar };
}

function isBaseline(role: ArmRoleName): boolean {
  return role === "opening-baseline" || role === "closing-baseline";
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
