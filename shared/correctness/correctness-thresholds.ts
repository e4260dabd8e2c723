/**
 * Tolerances of the correctness gate. GPU numerics differ between honest servers, so no check asks
 * for exact equality of logprobs, and a different token is fine where the two were near-ties.
 *
 * The defaults are set from measured honest noise: `node bench/correctness-noise.ts` runs honest
 * reference servers whose logits carry seeded noise of 0.02 to 0.2 nats (0.1 is already more than
 * two GPU kernels differ by; near-ties flip at every level) against a reference, every output teacher
 * forced, and reports the worst per-output figures. Each default is at least twice the worst seen
 * up to 0.1 nats (on 216 honest outputs: largest gap 0.37, reported-logprob difference 0.21, mean
 * 0.04, log-likelihood drop 0.04, lowest token logprob -1.55; none fails), and leaves the cheats
 * far outside (their figures are in the same run). At 0.2 nats some reported logprobs fall out
 * (8 of 72 outputs): noise that large is for the bookends to show and widen.
 * On a pod the defaults are widened, never narrowed, by what the two baseline bookends show of each
 * other (calibrateThresholds), up to {@link thresholdCaps}.
 */
export interface CorrectnessThresholds {
  /**
   * Every candidate token must be within the reference's top-k under teacher forcing, and at the
   * first divergence each side's token within the other's streamed top-k. @default 5
   */
  topK?: number;
  /**
   * Largest gap allowed at any position, nats: the reference's logprob of its own best token minus
   * its logprob of the candidate's token (teacher forced over the whole output, and at the first
   * divergence of the streams). Also bounds where a candidate may stop: ending the turn must be
   * within this of the reference's best token there. @default 1.5
   */
  maxTokenGap?: number;
  /**
   * Largest |difference| between a logprob the candidate reported and the reference's for the same
   * token (on the shared prefix of the streams, and under teacher forcing over the whole output),
   * nats. @default 0.5
   */
  maxPrefixLogprobDiff?: number;
  /** Largest mean |difference| of the same, nats. @default 0.2 */
  maxMeanPrefixLogprobDiff?: number;
  /**
   * Largest drop of the candidate output's mean log-likelihood under the reference model (teacher
   * forcing) below the reference's own output's, nats per token. @default 0.5
   */
  maxTeacherForcedDrop?: number;
  /** Lowest logprob under the reference allowed for any candidate token, nats (<= 0). @default -8 */
  minTokenLogprob?: number;
  /**
   * A candidate output shorter than max(2, ceil(ratio x reference tokens)) fails (early stop).
   * @default 0.9
   */
  minLengthRatio?: number;
  /**
   * Share of the judged outputs allowed to fail a tolerance (never an integrity check, never a
   * canary) while the arm still passes. @default 0
   */
  maxFailedFraction?: number;
  /**
   * Largest relative difference between the claimed token count and the count of re-tokenising the
   * streamed text (at least 2 tokens are always allowed). @default 0.05
   */
  retokenizedTolerance?: number;
}

/** Thresholds with every default filled in. */
export type ResolvedThresholds = Required<CorrectnessThresholds>;

/** The defaults of {@link CorrectnessThresholds}. */
export const defaultThresholds: Readonly<ResolvedThresholds> = Object.freeze({
  topK: 5,
  maxTokenGap: 1.5,
  maxPrefixLogprobDiff: 0.5,
  maxMeanPrefixLogprobDiff: 0.2,
  maxTeacherForcedDrop: 0.5,
  minTokenLogprob: -8,
  minLengthRatio: 0.9,
  maxFailedFraction: 0,
  retokenizedTolerance: 0.05,
});

/**
 * The loosest a pod's calibration may make each tolerance: bookends that need more than this to
 * agree with each other do not pass against each other, and the job is no decision.
 */
export const thresholdCaps: Readonly<
  Pick<
    ResolvedThresholds,
    | "maxTokenGap"
    | "maxPrefixLogprobDiff"
    | "maxMeanPrefixLogprobDiff"
    | "maxTeacherForcedDrop"
    | "minTokenLogprob"
    | "maxFailedFraction"
  >
> = Object.freeze({
  maxTokenGap: 3,
  maxPrefixLogprobDiff: 1,
  maxMeanPrefixLogprobDiff: 0.3,
  maxTeacherForcedDrop: 1,
  minTokenLogprob: -12,
  maxFailedFraction: 0.05,
});

/** Fills defaults and rejects thresholds that make no sense; throws RangeError naming the field. */
export function resolveThresholds(thresholds: CorrectnessThresholds = {}): ResolvedThresholds {
  const t: ResolvedThresholds = { ...defaultThresholds };
  for (const [key, value] of Object.entries(thresholds)) {
    if (value === undefined) continue;
    if (!(key in defaultThresholds)) throw new RangeError(`unknown correctness threshold "${key}"`);
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new RangeError(`correctness threshold ${key} must be a finite number, got ${value}`);
    }
    if (key === "minTokenLogprob" ? value > 0 : value < 0) {
      throw new RangeError(
        `correctness threshold ${key} must be ${key === "minTokenLogprob" ? "<= 0" : ">= 0"}, got ${value}`,
      );
    }
    (t as unknown as Record<string, number>)[key] = value;
  }
  if (!Number.isInteger(t.topK) || t.topK < 1)
    throw new RangeError(`topK must be an integer >= 1, got ${t.topK}`);
  if (t.minLengthRatio > 1 || t.maxFailedFraction > 1 || t.retokenizedTolerance > 1) {
    throw new RangeError("minLengthRatio, maxFailedFraction and retokenizedTolerance must be within 0..1");
  }
  return t;
}
