import { combineReadings } from "./pool-readings.ts";
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
  return combineReadings(readings, (stages) => sequentialComparison(stages, policy));
}
