import { type CorrectnessSummary, PromptVerdict } from "../gen/cacheon/v1/correctness_pb.ts";
import type { JudgeTokenizer } from "./check-integrity.ts";
import { compareOutputs } from "./compare-outputs.ts";
import {
  type CorrectnessThresholds,
  type ResolvedThresholds,
  resolveThresholds,
  thresholdCaps,
} from "./correctness-thresholds.ts";
import type { GeneratedOutput } from "./generated-output.ts";
import type { TeacherForcedOutput } from "./teacher-forced-output.ts";

/** Input of {@link calibrateThresholds}. */
export interface CalibrateInput {
  /** The opening baseline's outputs (B) and the closing baseline's (B'), same workload. */
  opening: readonly GeneratedOutput[];
  closing: readonly GeneratedOutput[];
  /** Both scored by the same reference server (the closing baseline). */
  openingTeacherForced: readonly TeacherForcedOutput[];
  closingTeacherForced: readonly TeacherForcedOutput[];
  /** What every request asked for. */
  request: { maxTokens: number; fixedOutputLength?: boolean };
  tokenizer: JudgeTokenizer;
  /** The defaults to start from (the operator's settings). */
  thresholds?: CorrectnessThresholds;
  /** How far beyond the bookends' own disagreement the tolerances reach. @default 2 */
  multiplier?: number;
}

/** The figures by which the two bookends disagree, over both directions. */
export interface BookendNoise {
  maxTokenGap: number;
  maxPrefixLogprobDiff: number;
  maxMeanPrefixLogprobDiff: number;
  maxTeacherForcedDrop: number;
  minTokenLogprob: number;
  /** Share of outputs failing a tolerance at the default thresholds. */
  failedFraction: number;
}

/** Result of {@link calibrateThresholds}. */
export interface Calibration {
  /** True when the bookends pass against each other at the caps. */
  passed: boolean;
  /** Why they do not, when they do not. */
  reason: string;
  /** The tolerances for this pod's challengers. */
  thresholds: ResolvedThresholds;
  /** What the bookends showed. */
  observed: BookendNoise;
  /** B' judged against B at the caps (its correctness, as an arm of the job). */
  closingAgainstOpening: CorrectnessSummary;
  /** One "name=value (observed x, default y, cap z)" line per calibrated tolerance, for audit. */
  lines: string[];
}

/**
 * Calibrates the correctness tolerances of one pod from its two baseline bookends. B' is judged
 * against B and B against B' (each output teacher forced by the same server), at the loosest
 * tolerances allowed (`thresholdCaps`): the bookends must pass against each other, or nothing on
 * this pod can be judged (no decision). Each tolerance then becomes `multiplier` x what the bookends
 * showed, but never tighter than the default (an honest challenger runs other kernels than the
 * baseline, so it differs more from B than B' does) nor looser than the cap. Pure.
 */
export function calibrateThresholds(input: CalibrateInput): Calibration {
  const base = resolveThresholds(input.thresholds);
  const caps = resolveThresholds({ ...base, ...thresholdCaps });
  const m = input.multiplier ?? 2;
  const judge = (thresholds: ResolvedThresholds) => [
    compareOutputs({
      reference: input.opening,
      candidate: input.closing,
      teacherForced: input.closingTeacherForced,
      referenceTeacherForced: input.openingTeacherForced,
      request: input.request,
      tokenizer: input.tokenizer,
      thresholds,
    }),
    compareOutputs({
      reference: input.closing,
      candidate: input.opening,
      teacherForced: input.openingTeacherForced,
      referenceTeacherForced: input.closingTeacherForced,
      request: input.request,
      tokenizer: input.tokenizer,
      thresholds,
    }),
  ];
  const atCaps = judge(caps);
  const atDefaults = judge(base);
  const evidence = atCaps.flatMap((s) => s.promptsEvidence);
  const max = (values: number[]) => values.filter(Number.isFinite).reduce((a, b) => Math.max(a, b), 0);
  const min = (values: number[]) => values.filter(Number.isFinite).reduce((a, b) => Math.min(a, b), 0);
  const judged = atDefaults
    .flatMap((s) => s.promptsEvidence)
    .filter((e) => e.verdict !== PromptVerdict.MISSING);
  const observed: BookendNoise = {
    maxTokenGap: max(evidence.flatMap((e) => [e.maxTeacherForcedGap, e.divergenceLogprobGap, e.stopGap])),
    maxPrefixLogprobDiff: max(evidence.map((e) => e.maxPrefixLogprobDiff)),
    maxMeanPrefixLogprobDiff: max(evidence.map((e) => e.meanPrefixLogprobDiff)),
    maxTeacherForcedDrop: max(evidence.map((e) => e.referenceMeanLogprob - e.teacherForcedMeanLogprob)),
    minTokenLogprob: min(evidence.map((e) => e.minTeacherForcedLogprob)),
    failedFraction:
      judged.length > 0 ? judged.filter((e) => e.verdict === PromptVerdict.FAIL).length / judged.length : 0,
  };
  const widen = (name: keyof typeof thresholdCaps, value: number) =>
    Math.min(caps[name], Math.max(base[name], value));
  const thresholds: ResolvedThresholds = {
    ...base,
    maxTokenGap: widen("maxTokenGap", m * observed.maxTokenGap),
    maxPrefixLogprobDiff: widen("maxPrefixLogprobDiff", m * observed.maxPrefixLogprobDiff),
    maxMeanPrefixLogprobDiff: widen("maxMeanPrefixLogprobDiff", m * observed.maxMeanPrefixLogprobDiff),
    maxTeacherForcedDrop: widen("maxTeacherForcedDrop", m * observed.maxTeacherForcedDrop),
    // Log-likelihoods are negative: widening goes down, to the cap at most.
    minTokenLogprob: Math.max(
      caps.minTokenLogprob,
      Math.min(base.minTokenLogprob, m * observed.minTokenLogprob),
    ),
    maxFailedFraction: widen("maxFailedFraction", observed.failedFraction),
  };
  const failing = atCaps.filter((s) => !s.passed);
  const reason =
    failing.length === 0
      ? ""
      : `the baseline bookends do not pass against each other even at the loosest tolerances: ${failing
          .flatMap((s) => (s.noDecisionReason ? [s.noDecisionReason] : s.reasons))
          .join("; ")}`;
  const lines = (Object.keys(observed) as (keyof BookendNoise)[]).map((name) => {
    const key = name === "failedFraction" ? "maxFailedFraction" : name;
    return `calibrated ${key}=${round(thresholds[key])} (bookends ${round(observed[name])}, default ${round(base[key])}, cap ${round(caps[key])}, x${m})`;
  });
  return {
    passed: failing.length === 0,
    reason,
    thresholds,
    observed,
    closingAgainstOpening: atCaps[0] as CorrectnessSummary,
    lines,
  };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
