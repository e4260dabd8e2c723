import type { ScoringPolicy } from "./scoring-policy.ts";
import { sequentialComparison } from "./sequential-test.ts";
import type { ChallengerReading } from "./settle-standing.ts";

/**
 * One reading from a challenger's decided measurements in one phase of a round, each a stage of
 * the sequential design, oldest first: each comparison (with the leader, the runner-up, the
 * baseline) is the sequential test's (see sequentialComparison): `beats` once it cleared the bar
 * at some stage, `insideNoise` while it may still do so (another stage is owed), neither once it
 * was rejected. A gate failed at any stage is a failure. Speed is the inverse-variance pooled
 * speed against the baseline. The jobId and podId are the latest stage's. Pure.
 */
export function sequentialReading(
  readings: readonly ChallengerReading[],
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  const latest = readings.at(-1);
  if (!latest) return undefined;
  const failed = readings.find((r) => r.gate !== "pass");
  if (failed) return { ...failed, measurements: readings.length };
  const vsBaseline = sequentialComparison(
    readings.map((r) => r.vsBaseline),
    policy,
  );
  const weights = readings.map((r) => 1 / Math.max(r.vsBaseline.noise, 1e-9) ** 2);
  const total = weights.reduce((a, b) => a + b, 0);
  const speed = Math.exp(
    readings.reduce((sum, r, i) => sum + (weights[i] ?? 0) * Math.log(r.speed), 0) / total,
  );
  return {
    ...latest,
    speed,
    vsLeader: sequentialComparison(
      readings.map((r) => r.vsLeader),
      policy,
    ),
    vsRunnerUp: sequentialComparison(
      readings.map((r) => r.vsRunnerUp),
      policy,
    ),
    vsBaseline: vsBaseline ?? latest.vsBaseline,
    measurements: readings.length,
  };
}
