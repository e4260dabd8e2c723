import type { PodComparison } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";
import { pool } from "./sequential-test.ts";
import type { ChallengerReading } from "./settle-standing.ts";

/**
 * One reading of a challenger from the blocks of one interleaved job: each block is a comparison
 * on its own (its arms against the baselines around it), so the job's comparison with a reference
 * is the blocks' pooled (see poolBlockComparisons) and its speed their geometric mean. A gate
 * failed in any block is the reading's. Pure.
 */
export function poolBlockReadings(
  blocks: readonly ChallengerReading[],
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  const first = blocks[0];
  if (!first || blocks.length === 1) return first;
  const failed = blocks.find((b) => b.gate !== "pass");
  if (failed) return failed;
  const speed = Math.exp(blocks.reduce((sum, b) => sum + Math.log(b.speed), 0) / blocks.length);
  return {
    ...first,
    speed,
    vsLeader: poolBlockComparisons(
      blocks.map((b) => b.vsLeader),
      policy,
    ),
    vsRunnerUp: poolBlockComparisons(
      blocks.map((b) => b.vsRunnerUp),
      policy,
    ),
    vsBaseline: poolBlockComparisons(
      blocks.map((b) => b.vsBaseline),
      policy,
    ) as PodComparison,
  };
}

/**
 * The comparisons of an interleaved job's blocks as one: the inverse-variance pooled ratio with
 * each block's repetition noise and bookend spread added in quadrature, widened when the blocks
 * disagree beyond that (a challenger or seat holder whose speed changes from one start to the
 * next shows here), judged by the bar 1 + max(minMargin, noiseMultiplier x noise). Forfeits count
 * only where no block has a real comparison. The result is one stage's comparison: its noise
 * already holds the spreads. Pure.
 */
export function poolBlockComparisons(
  comparisons: readonly (PodComparison | undefined)[],
  policy: ScoringPolicy,
): PodComparison | undefined {
  const known = comparisons.filter(
    (c): c is PodComparison => c !== undefined && c.ratio > 0 && Number.isFinite(c.ratio),
  );
  const real = known.filter((c) => !c.forfeit);
  const used = real.length > 0 ? real : known;
  if (used.length === 0) return comparisons.find((c) => c !== undefined);
  const { logRatio, noise } = pool(used);
  const ratio = Math.exp(logRatio);
  const bar = 1 + Math.max(policy.minMargin, policy.noiseMultiplier * noise);
  const pooled: PodComparison = {
    ratio,
    noise,
    bar,
    beats: ratio > bar,
    insideNoise: ratio > 1 + policy.minMargin && ratio <= bar,
  };
  if (real.length > 0) return pooled;
  return policy.leaderMustBeatBaseline
    ? { ...pooled, forfeit: true }
    : { ...pooled, beats: true, insideNoise: false, forfeit: true };
}
