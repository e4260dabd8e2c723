import { findingsAgainstServer } from "../../shared/findings/findings-against-server.ts";
import { type TokenKTimes, tokenKSpeed } from "../../shared/stats/token-k-speed.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";

/** Why an image is in a job (mirrors cacheon.v1.ArmRole as plain strings). */
export type ArmRoleName =
  | "opening-baseline"
  | "leader"
  | "runner-up"
  | "challenger"
  | "closing-baseline"
  | "interim-baseline";

/** How an arm ended (mirrors cacheon.v1.ArmOutcome). */
export type ArmOutcomeName =
  | "measured"
  | "pull-failed"
  | "never-ready"
  | "crashed"
  | "broken-output"
  | "cancelled"
  | "gpu-fault"
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
  /** Suspicious behaviour the agent saw (e.g. probe prompts faster on repeats than the baseline's: cached responses). */
  findings?: readonly string[] | undefined;
  /**
   * Times to token k of the arm's scored requests against the bookends' (cacheon.v1.TokenKTiming);
   * for the closing baseline, its own against the opening's. Absent or empty from agents that do
   * not report them: the job is then scored by whole wall time.
   */
  tokenK?: readonly TokenKTimes[] | undefined;
  /**
   * Set when the agent could not judge this arm because of the reference (a baseline request or
   * teacher forcing failed, or the bookends did not pass against each other): the job is no
   * decision and is rerun, whatever the arm did.
   */
  noDecisionReason?: string | undefined;
}

/**
 * What speed is measured by: "time-to-token-k" (the median over requests of the baseline's time to
 * token k over the arm's, issue 14) when the agent reports it, else "whole-wall" (the bookends' wall
 * time over the arm's), for results of agents that predate it.
 */
export type SpeedStatistic = "time-to-token-k" | "whole-wall";

/** Gate outcome and speed of one arm. */
export interface ArmScore {
  armId: string;
  role: ArmRoleName;
  submissionId: string;
  /** "pass" when measured and correct; anything failing scores zero. */
  gate: "pass" | "fail";
  /** Why the gate failed, for the miner's report. */
  reason: string;
  /**
   * The arm's speed against the baseline by the job's statistic, 0 when the gate failed. By time
   * to token k: the median over requests of baseline time / arm time to token k; by whole wall:
   * baseline wall / arm wall. The baseline is the one interpolated at `position` when the policy
   * corrects drift, else the bookends' mean.
   */
  speed: number;
  /** The statistic `speed` is. */
  statistic: SpeedStatistic;
  /** Baseline wall time / this arm's wall time (interpolated the same way): the secondary figure. */
  wallSpeed: number;
  wallS: number;
  /**
   * Relative spread of one read of the arm, which compareOnPod pools with the other arms': by whole
   * wall, the CV of its repetitions' wall times; by time to token k, the CV of its per-repetition
   * speeds (robust to one odd repetition from 5 on: TokenKSpeed.robustCv) over sqrt(2) (each is a ratio of two reads of about equal noise, the arm's and the
   * baseline's).
   */
  wallCv: number;
  repetitions: number;
  /** Where the arm ran between the bookends: 0 = right after the opening, 1 = the closing. */
  position: number;
  /** Standard error of the arm's wall time relative to it: wallCv / sqrt(repetitions). */
  relativeError: number;
}

/** What compareOnPod needs of a bookend read (wallCv: the relative spread of one read, as in ArmScore). */
export interface BookendRead {
  wallS: number;
  wallCv: number;
  repetitions: number;
}

/** The verdict on one job's measurements. */
export interface JobScore {
  /**
   * "decided": the bookends agree and every arm has a score (a seat holder that failed its gate
   * does not void the job: the failure is its own, see readingOf). "no-decision": the pod
   * drifted (bookends disagree beyond the limit) and the job must be rerun. "invalid": a
   * baseline arm was not measured, so nothing on this pod can be compared; rerun elsewhere.
   */
  decision: "decided" | "no-decision" | "invalid";
  reason: string;
  /** The statistic speeds are measured by. */
  statistic: SpeedStatistic;
  /** Mean of the two bookends' wall times, seconds (0 when invalid). */
  baselineWallS: number;
  /**
   * |B' - B| / mean(B, B'): by whole wall, of the bookends' wall times; by time to token k, with B'/B
   * the median over requests of the closing baseline's time to token k over the opening's.
   */
  bookendSpread: number;
  /** Opening and closing reads (empty when invalid). */
  bookends: BookendRead[];
  arms: ArmScore[];
  /**
   * An interleaved job's blocks, each scored against the baselines just before and after it (its
   * own bookends); `arms` then lists every block's arms, `bookendSpread` is the largest of theirs,
   * and the job is decided only when every block is. Absent for a job of one block.
   */
  blocks?: JobScore[] | undefined;
}

/**
 * Scores a job's arms against its bookends; an interleaved job (interim baselines between blocks)
 * block by block, each against the baselines around it. Pure.
 */
export function scoreJob(arms: readonly ArmMeasurement[], policy: ScoringPolicy): JobScore {
  const baselines = arms.flatMap((a, i) => (isBaseline(a.role) ? [i] : []));
  if (!arms.some((a) => a.role === "interim-baseline") || baselines.length < 3)
    return scoreBlock(arms, policy);
  const blocks: JobScore[] = [];
  for (let b = 0; b + 1 < baselines.length; b++) {
    const from = baselines[b] as number;
    const to = baselines[b + 1] as number;
    blocks.push(
      scoreBlock(
        arms
          .slice(from, to + 1)
          .map((a, i, all) =>
            i === 0
              ? { ...a, role: "opening-baseline" as const }
              : i === all.length - 1
                ? { ...a, role: "closing-baseline" as const }
                : a,
          ),
        policy,
      ),
    );
  }
  const undecided = blocks.find((b) => b.decision !== "decided");
  const first = blocks[0] as JobScore;
  return {
    decision: undecided?.decision ?? "decided",
    reason: undecided
      ? `block ${blocks.indexOf(undecided) + 1} of ${blocks.length}: ${undecided.reason}`
      : "",
    statistic: first.statistic,
    baselineWallS: blocks.reduce((sum, b) => sum + b.baselineWallS, 0) / blocks.length,
    bookendSpread: Math.max(...blocks.map((b) => b.bookendSpread)),
    bookends: blocks.flatMap((b) => b.bookends),
    arms: blocks.flatMap((b) => b.arms),
    blocks,
  };
}

/** Scores one block: its arms between an opening and a closing baseline. */
function scoreBlock(arms: readonly ArmMeasurement[], policy: ScoringPolicy): JobScore {
  const opening = arms.find((a) => a.role === "opening-baseline");
  const closing = arms.find((a) => a.role === "closing-baseline");
  const statistic: SpeedStatistic = (closing?.tokenK?.length ?? 0) > 0 ? "time-to-token-k" : "whole-wall";
  const invalid = (reason: string): JobScore => ({
    decision: "invalid",
    reason,
    statistic,
    baselineWallS: 0,
    bookendSpread: 0,
    bookends: [],
    arms: arms
      .filter((a) => !isBaseline(a.role))
      .map((a) => gateOnly(a, policy, { statistic, baselineAt: () => 0, position: 0 })),
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
  let bookendSpread = Math.abs(closing.wallS - opening.wallS) / baselineWallS;
  let bookends = [opening, closing].map((b) => ({
    wallS: b.wallS,
    wallCv: b.wallCv,
    repetitions: b.repetitions,
  }));
  if (statistic === "time-to-token-k") {
    // The closing baseline timed against the opening one: its speed s = B/B' per request (median),
    // so B' = B / s; one bookend read's spread is that ratio's spread over sqrt(2).
    const bb = tokenKSpeed(closing.tokenK ?? [], { position: 0 });
    bookendSpread = (2 * Math.abs(1 - bb.speed)) / (1 + bb.speed);
    const read = { wallCv: bb.robustCv / Math.SQRT2, repetitions: bb.repetitionSpeeds.length || 1 };
    bookends = bookends.map((b) => ({ ...b, ...read }));
  }
  // Arms run in the order given (the job's order), so an arm's place between the bookends is
  // its index between theirs; the baseline it is judged against is read off the line through
  // the two bookends at that place.
  const from = arms.indexOf(opening);
  const span = arms.indexOf(closing) - from;
  const positionOf = (a: ArmMeasurement) => (span !== 0 ? clamp01((arms.indexOf(a) - from) / span) : 0.5);
  const baselineAt = (position: number) =>
    policy.driftCorrection ? opening.wallS + (closing.wallS - opening.wallS) * position : baselineWallS;
  // Findings the baseline shows as well (say, prefix caching in the reference server) are the
  // workload's doing, not evidence against a challenger: of the same kind (findingKind). A
  // client-bound finding is the referee's limitation: it neither fails an arm nor excuses one.
  const baselineFindings = new Set(
    [...findingsAgainstServer(opening.findings), ...findingsAgainstServer(closing.findings)].map(findingKind),
  );
  const scored = arms
    .filter((a) => !isBaseline(a.role))
    .map((a) => gateOnly(a, policy, { statistic, baselineAt, position: positionOf(a), baselineFindings }));
  const unjudged = arms.find((a) => a.noDecisionReason);
  if (unjudged) {
    return {
      decision: "no-decision",
      reason: `the reference could not judge ${unjudged.armId}'s outputs (${unjudged.noDecisionReason}); rerun`,
      statistic,
      baselineWallS,
      bookendSpread,
      bookends,
      arms: scored,
    };
  }
  if (!(bookendSpread <= policy.bookendLimit)) {
    return {
      decision: "no-decision",
      reason: `baseline bookends disagree by ${pct(bookendSpread)} (limit ${pct(policy.bookendLimit)}): the pod drifted during the job; rerun`,
      statistic,
      baselineWallS,
      bookendSpread,
      bookends,
      arms: scored,
    };
  }
  return { decision: "decided", reason: "", statistic, baselineWallS, bookendSpread, bookends, arms: scored };
}

interface GateContext {
  statistic: SpeedStatistic;
  /** The bookends' wall time interpolated at a place between them (or their mean). */
  baselineAt: (position: number) => number;
  position: number;
  /** Kinds of findings the baseline showed too: they are the workload's doing. */
  baselineFindings?: ReadonlySet<string>;
}

function gateOnly(arm: ArmMeasurement, policy: ScoringPolicy, context: GateContext): ArmScore {
  const { statistic, baselineAt, position } = context;
  const byTokenK =
    statistic === "time-to-token-k"
      ? tokenKSpeed(arm.tokenK ?? [], { position, driftCorrection: policy.driftCorrection })
      : undefined;
  const wallCv = byTokenK ? byTokenK.robustCv / Math.SQRT2 : arm.wallCv;
  const repetitions = byTokenK ? byTokenK.repetitionSpeeds.length || arm.repetitions : arm.repetitions;
  const relativeError = repetitions > 0 ? wallCv / Math.sqrt(repetitions) : 0;
  const baselineWallS = baselineAt(position);
  const base = {
    armId: arm.armId,
    role: arm.role,
    submissionId: arm.submissionId,
    statistic,
    wallSpeed: baselineWallS > 0 && arm.wallS > 0 ? baselineWallS / arm.wallS : 0,
    wallS: arm.wallS,
    wallCv,
    repetitions,
    position,
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
  const flagged = findingsAgainstServer(arm.findings).filter(
    (f) => !context.baselineFindings?.has(findingKind(f)),
  );
  if (policy.failOnFindings && flagged.length > 0) return fail(`flagged by the agent: ${flagged.join("; ")}`);
  if (byTokenK) {
    if (!(byTokenK.speed > 0)) {
      return fail(
        "no request could be timed to its k-th token (no per-token logprobs arrived with arrival times)",
      );
    }
    return { ...base, gate: "pass", reason: "", speed: byTokenK.speed };
  }
  return { ...base, gate: "pass", reason: "", speed: base.wallSpeed };
}

/** A same-pod comparison of a challenger with the arm it would displace. */
export interface PodComparison {
  /**
   * Challenger's speed over the reference's, both against the baseline at their own place between
   * the bookends (reference wall / challenger wall when drift is not corrected): above 1 means
   * the challenger was faster.
   */
  ratio: number;
  /** Relative standard error of the ratio on this pod (see ratioNoise). */
  noise: number;
  /**
   * The part of `noise` the repetitions and the drift residual give, before the bookend spread's
   * floor (see readNoise); the sequential design adds the spread to it rather than taking the
   * larger. Absent in comparisons made before it existed.
   */
  readNoise?: number | undefined;
  /** The job's bookend spread (|B' - B| / mean), a two-read disagreement measured on this pod. */
  spread?: number | undefined;
  /** The ratio needed: 1 + max(minMargin, k x noise). */
  bar: number;
  /** ratio > bar. */
  beats: boolean;
  /**
   * The seat holder failed its gate on this pod: it forfeits the comparison, which is then the
   * empty seat's (against the baseline; see readingOf).
   */
  forfeit?: boolean | undefined;
  /**
   * Faster than the moat but not than the bar: the pod could not tell. A caller may measure it
   * again rather than read it as a loss.
   */
  insideNoise: boolean;
}

/**
 * Compares a challenger with a reference arm (leader, runner-up, or the baseline when the
 * reference is undefined) measured in the same job. Only a decided job and two passing arms
 * compare; anything else never "beats" (a seat holder that failed forfeits, see readingOf).
 */
export function compareOnPod(
  job: JobScore,
  challenger: ArmScore,
  reference: ArmScore | undefined,
  policy: ScoringPolicy,
): PodComparison {
  const read = readNoise(job, challenger, reference, policy);
  const noise = Math.max(job.bookendSpread, read);
  const bar = 1 + Math.max(policy.minMargin, policy.noiseMultiplier * noise);
  const none = {
    ratio: 0,
    noise,
    readNoise: read,
    spread: job.bookendSpread,
    bar,
    beats: false,
    insideNoise: false,
  };
  if (job.decision !== "decided" || challenger.gate !== "pass") return none;
  if (reference && reference.gate !== "pass") return none;
  const ratio = reference ? challenger.speed / reference.speed : challenger.speed;
  if (!Number.isFinite(ratio)) return none;
  return {
    ratio,
    noise,
    readNoise: read,
    spread: job.bookendSpread,
    bar,
    beats: ratio > bar,
    insideNoise: ratio > 1 + policy.minMargin && ratio <= bar,
  };
}

/**
 * Relative standard error of a challenger's ratio to its reference on one pod.
 *
 * The repetitions carry the noise: every arm on a pod sees the same machine, so their
 * repetition variances are pooled (weighted by degrees of freedom) over the arms this ratio
 * involves: the two bookends, the reference and the challenger. One arm's CV from 3 repetitions
 * is too unsteady to set a bar with (it is often twice or half the truth); the pool of four
 * arms is steadier, and a noisy arm still raises it. Each arm's error is then that CV over
 * sqrt(repetitions), times the median's inefficiency (the wall figure is a median), so more
 * repetitions lower the bar as they should.
 *
 * The baseline interpolated between the bookends carries their read error into the ratio in
 * proportion to how far apart the compared arms ran. The bookends' disagreement is drift, not
 * read noise, once corrected; `driftResidual` of it stays as noise for drift that is not a
 * straight line. Without repetitions (one read per arm), one read's noise is taken from the
 * bookends: their difference over sqrt(2), a difference of two reads being sqrt(2) times one.
 *
 * The result is never below the bookend spread itself: the baseline read twice on this pod
 * disagreed by that much, so no ratio measured between those reads is known better than that,
 * whatever the repetitions say (a pod whose drift is a step or a curve fools the linear
 * correction by up to the spread). Pure.
 */
export function ratioNoise(
  job: JobScore,
  challenger: ArmScore,
  reference: ArmScore | undefined,
  policy: ScoringPolicy,
): number {
  return Math.max(job.bookendSpread, readNoise(job, challenger, reference, policy));
}

/**
 * The standard error of a challenger's ratio from the repetitions and the drift residual alone
 * (ratioNoise without the bookend spread's floor; see there). Pure.
 */
export function readNoise(
  job: JobScore,
  challenger: ArmScore,
  reference: ArmScore | undefined,
  policy: ScoringPolicy,
): number {
  const reads: { wallCv: number; repetitions: number }[] = [...job.bookends, challenger];
  if (reference) reads.push(reference);
  let sumSquares = 0;
  let dof = 0;
  for (const r of reads) {
    if (r.repetitions >= 2 && Number.isFinite(r.wallCv) && r.wallCv >= 0) {
      sumSquares += (r.repetitions - 1) * r.wallCv ** 2;
      dof += r.repetitions - 1;
    }
  }
  const readCv = dof > 0 ? Math.sqrt(sumSquares / dof) : job.bookendSpread / Math.SQRT2;
  const error = (repetitions: number) =>
    (readCv * medianInefficiency(repetitions)) / Math.sqrt(Math.max(1, repetitions));
  const [opening, closing] = job.bookends;
  const bookendVariance = (position: number) => {
    const a = opening ? error(opening.repetitions) ** 2 : 0;
    const b = closing ? error(closing.repetitions) ** 2 : 0;
    return policy.driftCorrection ? (1 - position) ** 2 * a + position ** 2 * b : (a + b) / 4;
  };
  let variance = error(challenger.repetitions) ** 2;
  let span: number;
  if (reference) {
    variance += error(reference.repetitions) ** 2;
    span = Math.abs(challenger.position - reference.position);
    // Both speeds share the interpolation line; only the part of its error that differs
    // between the two places reaches the ratio.
    if (policy.driftCorrection) {
      const a = opening ? error(opening.repetitions) ** 2 : 0;
      const b = closing ? error(closing.repetitions) ** 2 : 0;
      variance += span ** 2 * (a + b);
    }
  } else {
    variance += bookendVariance(challenger.position);
    span = 1;
  }
  return Math.sqrt(variance) + policy.driftResidual * job.bookendSpread * span;
}

/**
 * Standard error of the median of n normal reads over that of their mean. The median of 1 or 2
 * reads is their mean; beyond, it tends to sqrt(pi/2).
 */
export function medianInefficiency(n: number): number {
  const known: Record<number, number> = { 3: 1.16, 4: 1.092, 5: 1.197, 6: 1.135, 7: 1.214 };
  if (n <= 2) return 1;
  return known[n] ?? Math.sqrt(Math.PI / 2);
}

/**
 * The kind of a finding: the code before its first colon ("repeat-speedup: ..."), or "" for the
 * older findings without one.
 */
export function findingKind(finding: string): string {
  return /^([a-z][a-z-]*): /.exec(finding)?.[1] ?? "";
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function isBaseline(role: ArmRoleName): boolean {
  return role === "opening-baseline" || role === "closing-baseline" || role === "interim-baseline";
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
