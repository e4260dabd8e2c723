import type { PodComparison } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";
import type { ChallengerReading } from "./settle-standing.ts";

/**
 * One reading from all of a challenger's decided measurements in one phase of a round (the
 * first job and its re-measurements), so no measurement replaces another: a lucky one cannot
 * be kept and an unlucky one dropped. A gate failed anywhere is a failure. Each comparison is
 * the inverse-variance weighted mean of the per-pod log-ratios, its noise the pooled standard
 * error, and its bar 1 + max(minMargin, pooledNoiseMultiplier x noise): each re-measurement was
 * another look, so the bar of a pooled decision is the higher one (see ScoringPolicy). A seat
 * holder's forfeits count only where no real comparison with it exists. A single measurement is
 * returned as it is. The jobId and podId are the latest measurement's. Pure.
 */
export function poolReadings(
  readings: readonly ChallengerReading[],
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  if (readings.length <= 1) return readings[0];
  return combineReadings(readings, (comparisons) => poolComparisons(comparisons, policy));
}

/**
 * One reading from a challenger's decided readings in one phase, oldest first, each comparison
 * (with the leader, the runner-up, the baseline) made by `combine` from the readings' own: a gate
 * failed in any reading is that failure; speed is the inverse-variance pooled speed against the
 * baseline; the jobId and podId are the latest reading's. What poolReadings and the sequential
 * design's sequentialReading share. Pure.
 */
export function combineReadings(
  readings: readonly ChallengerReading[],
  combine: (comparisons: readonly (PodComparison | undefined)[]) => PodComparison | undefined,
): ChallengerReading | undefined {
  const latest = readings.at(-1);
  if (!latest) return undefined;
  const failed = readings.find((r) => r.gate !== "pass");
  if (failed) return { ...failed, measurements: readings.length };
  const weights = readings.map((r) => weightOf(r.vsBaseline));
  const total = weights.reduce((a, b) => a + b, 0);
  const speed = Math.exp(
    readings.reduce((sum, r, i) => sum + (weights[i] ?? 0) * Math.log(r.speed), 0) / total,
  );
  return {
    ...latest,
    speed,
    vsLeader: combine(readings.map((r) => r.vsLeader)),
    vsRunnerUp: combine(readings.map((r) => r.vsRunnerUp)),
    vsBaseline: combine(readings.map((r) => r.vsBaseline)) ?? latest.vsBaseline,
    measurements: readings.length,
  };
}

/** Pools same-pod comparisons with one reference from several pods (see poolReadings). */
export function poolComparisons(
  comparisons: readonly (PodComparison | undefined)[],
  policy: ScoringPolicy,
): PodComparison | undefined {
  const known = comparisons.filter(
    (c): c is PodComparison => c !== undefined && c.ratio > 0 && Number.isFinite(c.ratio),
  );
  const real = known.filter((c) => !c.forfeit);
  const used = real.length > 0 ? real : known;
  if (used.length <= 1) return used[0] ?? comparisons.find((c) => c !== undefined);
  const weights = used.map(weightOf);
  const total = weights.reduce((a, b) => a + b, 0);
  const ratio = Math.exp(used.reduce((sum, c, i) => sum + (weights[i] ?? 0) * Math.log(c.ratio), 0) / total);
  const noise = 1 / Math.sqrt(total);
  const bar = 1 + Math.max(policy.minMargin, policy.pooledNoiseMultiplier * noise);
  const pooled: PodComparison = {
    ratio,
    noise,
    bar,
    beats: ratio > bar,
    insideNoise: ratio > 1 + policy.minMargin && ratio <= bar,
  };
  if (real.length > 0) return pooled;
  // Only forfeits: the seat is judged as empty, as each forfeit was (see readingOf).
  return policy.leaderMustBeatBaseline
    ? { ...pooled, forfeit: true }
    : { ...pooled, beats: true, insideNoise: false, forfeit: true };
}

// A noise of 0 (exact fixtures) would weigh infinitely; one part per billion is exact enough.
function weightOf(c: PodComparison): number {
  return 1 / Math.max(c.noise, 1e-9) ** 2;
}
