import { spendingBoundaries } from "./group-sequential.ts";
import type { PodComparison } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";

/** Where a sequential comparison stands after the stages measured so far. */
export type StageDecision = "accept" | "reject" | "continue";

/** A comparison judged by the sequential test: the pooled figures and the decision. */
export interface SequentialComparison extends PodComparison {
  decision: StageDecision;
  /** Stages the decision rests on (1 = the first job); stages after a decision are not counted. */
  stages: number;
  /** The efficacy boundary (z units) at the deciding stage, and the futility boundary. */
  efficacy: number;
  futility: number;
}

/**
 * A challenger's comparison with one reference (a seat holder, or the baseline for an empty seat)
 * over the stages of one phase of a round, each stage one job on one pod, judged by a
 * group-sequential test whose error rates hold by construction, however the stages turn out:
 *
 * - After stage k the stages so far are pooled (inverse-variance log-ratios, as poolComparisons)
 *   and, when they disagree more than their own noise says (Cochran's Q above its degrees of
 *   freedom), the pooled noise is widened by sqrt(Q / (k - 1)): a server whose speed changes
 *   from one start to the next cannot look steadier than it is.
 * - Accept ("clears the bar") when the pooled ratio is above 1 + minMargin and above
 *   exp(c_k x noise), c_k the efficacy boundary of alpha spending (Hwang-Shih-DeCani) over
 *   `sequentialStages` looks: a challenger as fast as the reference is accepted in at most
 *   `sequentialAlpha` of phases whatever the number of looks (no optional-stopping bias).
 * - Reject ("excludes it") when the ratio's upper confidence bound, exp(log ratio + f_k x noise),
 *   is below 1 + sequentialAdvantage, f_k the boundary of beta spending: a challenger truly that
 *   much faster is rejected early in at most `sequentialBeta` of phases. The futility boundary is
 *   non-binding (the efficacy boundaries are computed without it), so stopping early never
 *   raises the false-accept rate.
 * - At the last stage whatever has not cleared the bar is rejected (fail closed).
 *
 * Each stage's noise (stageNoise) adds the bookend spread to the repetitions' noise rather than
 * taking the larger (ratioNoise's floor), so it is never below the fixed design's. Comparisons that
 * are forfeits (the seat holder failed on that pod) count only where no real comparison exists,
 * as in poolComparisons. Pure.
 */
export function sequentialComparison(
  stages: readonly (PodComparison | undefined)[],
  policy: ScoringPolicy,
): SequentialComparison | undefined {
  const known = stages.filter(
    (c): c is PodComparison => c !== undefined && c.ratio > 0 && Number.isFinite(c.ratio),
  );
  const real = known.filter((c) => !c.forfeit);
  const used = real.length > 0 ? real : known;
  if (used.length === 0) {
    const first = stages.find((c) => c !== undefined);
    return first
      ? { ...first, decision: "reject", stages: 0, efficacy: Number.NaN, futility: Number.NaN }
      : undefined;
  }
  const looks = Math.max(1, Math.floor(policy.sequentialStages));
  const efficacy = spendingBoundaries({
    looks,
    rate: policy.sequentialAlpha,
    gamma: policy.sequentialAlphaSpending,
  });
  const futility = spendingBoundaries({
    looks,
    rate: policy.sequentialBeta,
    gamma: policy.sequentialBetaSpending,
  });
  const target = Math.log(1 + policy.sequentialAdvantage);
  let judged: SequentialComparison | undefined;
  for (let k = 1; k <= Math.min(used.length, looks); k++) {
    const { logRatio, noise } = pool(used.slice(0, k));
    const c = efficacy[k - 1] as number;
    const f = futility[k - 1] as number;
    const ratio = Math.exp(logRatio);
    const bar = Math.max(1 + policy.minMargin, Math.exp(c * noise));
    const accept = ratio > bar;
    const reject = !accept && (k === looks || logRatio + f * noise < target);
    judged = {
      ratio,
      noise,
      bar,
      beats: accept,
      insideNoise: !accept && !reject,
      decision: accept ? "accept" : reject ? "reject" : "continue",
      stages: k,
      efficacy: c,
      futility: f,
    };
    if (judged.decision !== "continue") break;
  }
  if (!judged) return undefined;
  if (real.length > 0) return judged;
  // Only forfeits: the seat is judged as empty, as each forfeit was (see readingOf).
  return policy.leaderMustBeatBaseline
    ? { ...judged, forfeit: true }
    : { ...judged, beats: true, insideNoise: false, decision: "accept", forfeit: true };
}

/**
 * Inverse-variance pooled log-ratio and its noise (each comparison's stageNoise), widened by the
 * comparisons' disagreement beyond their stated noise (multiplicative heterogeneity: sqrt(Q /
 * (k - 1)) when above 1). Pure.
 */
export function pool(stages: readonly PodComparison[]): { logRatio: number; noise: number } {
  const weights = stages.map((c) => 1 / Math.max(stageNoise(c), 1e-9) ** 2);
  const total = weights.reduce((a, b) => a + b, 0);
  const logs = stages.map((c) => Math.log(c.ratio));
  const logRatio = logs.reduce((sum, y, i) => sum + (weights[i] as number) * y, 0) / total;
  let noise = 1 / Math.sqrt(total);
  if (stages.length > 1) {
    const q = logs.reduce((sum, y, i) => sum + (weights[i] as number) * (y - logRatio) ** 2, 0);
    noise *= Math.sqrt(Math.max(1, q / (stages.length - 1)));
  }
  return { logRatio, noise };
}

/**
 * One stage's noise: the repetitions' (and drift residual's) standard error and the bookend
 * spread added in quadrature. The spread is a disagreement of two container starts of the same
 * image on this pod, so its square estimates what two starts (the challenger's and the
 * reference's) add to the ratio's variance beyond their repetitions: process offsets and drift no
 * line follows. Never below the fixed design's noise, max(spread, read noise).
 */
export function stageNoise(c: PodComparison): number {
  if (c.readNoise === undefined || c.spread === undefined) return c.noise;
  return Math.sqrt(c.readNoise ** 2 + c.spread ** 2);
}
