import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * Every number the verdict depends on. Defaults follow the field's experience (REFERENCE.md §1):
 * a 1% moat, k = 2 times the noise measured on the pod, bookends that must agree within 5%.
 */
export interface ScoringPolicy {
  /**
   * Largest relative difference between the opening and closing baseline wall times,
   * |B' - B| / mean(B, B'), before the pod is judged too unsteady: the job is "no decision" and
   * is rerun. @default 0.05
   */
  bookendLimit: number;
  /** Smallest margin a challenger must beat the arm it displaces by (0.01 = 1%). @default 0.01 */
  minMargin: number;
  /**
   * k in bar = 1 + max(minMargin, k x noise), where noise is the standard error of the ratio
   * being judged: estimated from the repetitions of the arms involved (pooled), so it shrinks as
   * repetitions grow, plus the unmodelled share of the bookends' drift (see driftResidual).
   * @default 2
   */
  noiseMultiplier: number;
  /**
   * Treat the bookends' difference as linear drift of the pod over the job: each arm's speed is
   * taken against the baseline interpolated at the arm's place between the bookends, so a pod
   * that slowed down during the job does not favour the arms run first. Off: every arm is taken
   * against the bookends' mean. @default true
   */
  driftCorrection: boolean;
  /**
   * Share of the bookend spread counted as noise that the drift correction cannot remove (two
   * points cannot show a step or a curve), scaled by how far apart the two compared arms ran
   * (the whole spread against the baseline). 0 trusts linear drift fully; with driftCorrection
   * off, 1 counts all the drift between the two arms as noise. Added to the statistical error,
   * not in quadrature: drift is a bias, not a random read. @default 0.25
   */
  driftResidual: number;
  /**
   * Largest fraction of an arm's scored requests that may fail before its correctness gate
   * fails, even when the agent's correctness summary passed. @default 0
   */
  maxFailedRequestFraction: number;
  /**
   * When there is no leader, a challenger must beat the baseline by the same bar to lead: a
   * repackaged baseline is not paid. @default true
   */
  leaderMustBeatBaseline: boolean;
  /**
   * An arm the agent flagged (findings such as later repetitions much faster than the first:
   * cached responses) fails its gate, unless the job's baseline is flagged the same way.
   * @default true
   */
  failOnFindings: boolean;
  /**
   * Times a challenger whose reading landed inside the noise band (faster than the seat's holder
   * by more than minMargin, not past the bar: the pod could not tell) is measured again within
   * the round, each time in a new job on another pod with a derived seed, before the reading
   * counts as below the bar. The same holds for a reproduction inside the band. 0 reads a
   * reading inside the band as below the bar at once. @default 2
   */
  maxRemeasurements: number;
  /**
   * k of the bar a re-measured challenger's pooled readings must clear (two or more decided
   * measurements in one phase of a round: every reading counts, none replaces another). Each
   * re-measurement is another look at the data, so this bar is higher than noiseMultiplier's:
   * with it, a challenger identical to the seat holder wins no more often than when each reading
   * was judged alone (group-sequential testing; bench/scoring-false-lead.ts measures it with
   * maxRemeasurements 2), while a truly faster one is told sooner. @default 2.5
   */
  pooledNoiseMultiplier: number;
}

/** The default policy (see each field's `@default`). */
export const defaultScoringPolicy: Readonly<ScoringPolicy> = Object.freeze({
  bookendLimit: 0.05,
  minMargin: 0.01,
  noiseMultiplier: 2,
  driftCorrection: true,
  driftResidual: 0.25,
  maxFailedRequestFraction: 0,
  leaderMustBeatBaseline: true,
  failOnFindings: true,
  maxRemeasurements: 2,
  pooledNoiseMultiplier: 2.5,
});

/** Fills unset fields with defaults and checks every field; throws naming each bad one. */
export function resolveScoringPolicy(partial: Partial<ScoringPolicy> = {}): ScoringPolicy {
  const policy: ScoringPolicy = { ...defaultScoringPolicy };
  for (const [key, value] of Object.entries(partial)) {
    if (value !== undefined) (policy as unknown as Record<string, unknown>)[key] = value;
  }
  const problems: string[] = [];
  const fraction = (name: keyof ScoringPolicy, max: number) => {
    const v = policy[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > max) {
      problems.push(`${name} must be a number from 0 to ${max}, got ${JSON.stringify(v)}`);
    }
  };
  fraction("bookendLimit", 1);
  fraction("minMargin", 1);
  fraction("noiseMultiplier", 100);
  fraction("pooledNoiseMultiplier", 100);
  fraction("driftResidual", 10);
  fraction("maxFailedRequestFraction", 1);
  const remeasurements = policy.maxRemeasurements;
  if (!Number.isInteger(remeasurements) || remeasurements < 0 || remeasurements > 10) {
    problems.push(
      `maxRemeasurements must be a whole number from 0 to 10, got ${JSON.stringify(remeasurements)}`,
    );
  }
  for (const key of ["leaderMustBeatBaseline", "failOnFindings", "driftCorrection"] as const) {
    if (typeof policy[key] !== "boolean") problems.push(`${key} must be true or false`);
  }
  if (problems.length > 0) {
    throw new CacheonError("invalid-config", `scoring policy: ${problems.join("; ")}`);
  }
  return policy;
}
