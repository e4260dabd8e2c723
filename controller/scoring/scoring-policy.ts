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
   * An arm the agent flagged (findings such as probe prompts faster on repeats than the
   * baseline's: cached responses) fails its gate, unless the job's baseline is flagged the same way.
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
  /**
   * How a phase of a round (evaluation, reproduction) decides. "sequential": each job is a stage;
   * after each, a group-sequential test on all the stages so far accepts (the pooled ratio clears
   * its boundary), rejects (its confidence interval excludes `sequentialAdvantage`, or the last
   * stage passed) or asks for another stage, so error rates hold by construction (see
   * sequentialComparison). "fixed": one job judged by noiseMultiplier's bar, re-measured up to
   * maxRemeasurements times when inside the noise band (pooledNoiseMultiplier). @default "fixed"
   */
  decision: "sequential" | "fixed";
  /** Most stages (jobs) per phase of the sequential design; the last one decides. @default 6 */
  sequentialStages: number;
  /**
   * Chance that a challenger exactly as fast as the seat holder is accepted in one phase (one-sided,
   * over all stages). Paying needs both phases on independent pods, so a false lead needs this
   * twice: 0.025 gives 0.0625%. @default 0.025
   */
  sequentialAlpha: number;
  /**
   * Chance that a challenger truly `sequentialAdvantage` faster is rejected early by the futility
   * boundary in one phase (the cap can still reject it when the pods are too noisy). @default 0.025
   */
  sequentialBeta: number;
  /** The advantage the futility boundary is built for (0.03 = 3% faster). @default 0.03 */
  sequentialAdvantage: number;
  /**
   * Hwang-Shih-DeCani shape of the alpha spending: -4 spends little early (an early stage needs a
   * clear win), 1 evenly high boundaries (Pocock-like). @default -4
   */
  sequentialAlphaSpending: number;
  /** The same for the beta (futility) spending: higher stops hopeless challengers sooner. @default 1 */
  sequentialBetaSpending: number;
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
  decision: "fixed",
  sequentialStages: 6,
  sequentialAlpha: 0.025,
  sequentialBeta: 0.025,
  sequentialAdvantage: 0.03,
  sequentialAlphaSpending: -4,
  sequentialBetaSpending: 1,
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
  for (const key of ["sequentialAlpha", "sequentialBeta"] as const) {
    const v = policy[key];
    if (typeof v !== "number" || !(v > 0 && v < 0.5)) {
      problems.push(`${key} must be a number above 0 and below 0.5, got ${JSON.stringify(v)}`);
    }
  }
  fraction("sequentialAdvantage", 1);
  for (const key of ["sequentialAlphaSpending", "sequentialBetaSpending"] as const) {
    const v = policy[key];
    if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > 40) {
      problems.push(`${key} must be a number from -40 to 40, got ${JSON.stringify(v)}`);
    }
  }
  const stages = policy.sequentialStages;
  if (!Number.isInteger(stages) || stages < 1 || stages > 20) {
    problems.push(`sequentialStages must be a whole number from 1 to 20, got ${JSON.stringify(stages)}`);
  }
  if (policy.decision !== "sequential" && policy.decision !== "fixed") {
    problems.push(`decision must be "sequential" or "fixed", got ${JSON.stringify(policy.decision)}`);
  }
  for (const key of ["leaderMustBeatBaseline", "failOnFindings", "driftCorrection"] as const) {
    if (typeof policy[key] !== "boolean") problems.push(`${key} must be true or false`);
  }
  if (problems.length > 0) {
    throw new CacheonError("invalid-config", `scoring policy: ${problems.join("; ")}`);
  }
  return policy;
}
