import { create } from "@bufbuild/protobuf";
import {
  type CorrectnessSummary,
  CorrectnessSummarySchema,
  type PromptEvidence,
  PromptEvidenceSchema,
  PromptVerdict,
} from "../gen/cacheon/v1/correctness_pb.ts";
import type { GeneratedOutput, GeneratedToken } from "./generated-output.ts";

/**
 * Tolerances of the correctness gate. GPU numerics differ between honest servers, so no check
 * asks for exact equality of logprobs, and a divergence is fine where the two tokens were near-ties.
 */
export interface CorrectnessThresholds {
  /**
   * At the first divergence the candidate's token must be among the reference's top-k (and the
   * reference's among the candidate's, when the candidate sent alternatives). @default 5
   */
  topK?: number;
  /**
   * Largest allowed reference logprob gap at the divergence: reference logprob of its own token
   * minus its logprob of the candidate's token, nats. Near-ties are a few hundredths. @default 1.0
   */
  maxDivergenceLogprobGap?: number;
  /** Largest allowed |difference| of a chosen token's logprob on the shared prefix, nats. @default 0.5 */
  maxPrefixLogprobDiff?: number;
  /** Largest allowed mean |difference| of chosen tokens' logprobs on the shared prefix, nats. @default 0.1 */
  maxMeanPrefixLogprobDiff?: number;
  /**
   * Largest allowed drop of the candidate output's mean log-likelihood under the reference model
   * (teacher forcing) below the reference's own greedy output's mean, nats per token. @default 0.5
   */
  maxTeacherForcedDrop?: number;
  /**
   * A candidate output shorter than max(2, ceil(ratio x reference tokens)) fails (early stop).
   * @default 0.9
   */
  minLengthRatio?: number;
  /** Fraction of judged prompts allowed to fail while the arm still passes. @default 0 */
  maxFailedFraction?: number;
  /** Fraction of prompts allowed to be unjudgeable (failed requests) while the arm passes. @default 0 */
  maxMissingFraction?: number;
}

/** Thresholds with every default filled in. */
export type ResolvedThresholds = Required<CorrectnessThresholds>;

/** The defaults of {@link CorrectnessThresholds}. */
export const defaultThresholds: ResolvedThresholds = {
  topK: 5,
  maxDivergenceLogprobGap: 1.0,
  maxPrefixLogprobDiff: 0.5,
  maxMeanPrefixLogprobDiff: 0.1,
  maxTeacherForcedDrop: 0.5,
  minLengthRatio: 0.9,
  maxFailedFraction: 0,
  maxMissingFraction: 0,
};

/** Teacher-forcing result for one candidate output: its tokens scored by the reference model. */
export interface TeacherForcedScore {
  /** Repetition of the candidate output scored. */
  repetition: number;
  /** Request index of the candidate output scored. */
  requestIndex: number;
  /** Mean log-likelihood per token of the candidate's output under the reference model, nats. */
  meanLogprob: number;
}

/** Input of {@link compareOutputs}. */
export interface CompareOutputsInput {
  /** The reference arm's outputs; matched to the candidate's by prompt id (first ok repetition). */
  reference: readonly GeneratedOutput[];
  /** The candidate arm's outputs, every timed repetition. */
  candidate: readonly GeneratedOutput[];
  /** Teacher-forced scores of candidate outputs; prompts without one are judged without it. */
  teacherForced?: readonly TeacherForcedScore[];
  /** Tolerances; missing fields take {@link defaultThresholds}. */
  thresholds?: CorrectnessThresholds;
}

/**
 * Judges every candidate output against the reference output of the same request and summarises
 * them into the contract's CorrectnessSummary. Pure: the same input always gives the same verdict.
 */
export function compareOutputs(input: CompareOutputsInput): CorrectnessSummary {
  const t = resolveThresholds(input.thresholds);
  // By prompt: generated workloads send fresh prompts in every repetition, so the reference output
  // for a candidate's request is the one for the same prompt, not the same position.
  const referenceByPrompt = new Map<string, GeneratedOutput>();
  for (const out of [...input.reference].sort((a, b) => a.repetition - b.repetition)) {
    const known = referenceByPrompt.get(out.promptId);
    if (!known || (!known.ok && out.ok)) referenceByPrompt.set(out.promptId, out);
  }
  const tf = new Map<string, number>();
  for (const s of input.teacherForced ?? []) tf.set(`${s.repetition}/${s.requestIndex}`, s.meanLogprob);

  const evidence = [...input.candidate]
    .sort((a, b) => a.repetition - b.repetition || a.requestIndex - b.requestIndex)
    .map((cand) =>
      comparePrompt(
        referenceByPrompt.get(cand.promptId),
        cand,
        tf.get(`${cand.repetition}/${cand.requestIndex}`),
        t,
      ),
    );

  const passed = evidence.filter((e) => e.verdict === PromptVerdict.PASS).length;
  const failed = evidence.filter((e) => e.verdict === PromptVerdict.FAIL).length;
  const missing = evidence.filter((e) => e.verdict === PromptVerdict.MISSING).length;
  const judged = passed + failed;
  const reasons = groupReasons(input.candidate, evidence);
  const ok =
    evidence.length > 0 &&
    judged > 0 &&
    failed <= Math.floor(t.maxFailedFraction * judged + 1e-9) &&
    missing <= Math.floor(t.maxMissingFraction * evidence.length + 1e-9);
  if (evidence.length === 0) reasons.push("no candidate outputs to judge");
  return create(CorrectnessSummarySchema, {
    passed: ok,
    prompts: evidence.length,
    promptsPassed: passed,
    promptsFailed: failed,
    promptsMissing: missing,
    reasons,
    promptsEvidence: evidence,
    thresholds: Object.entries(t).map(([k, v]) => `${k}=${v}`),
  });
}

/** Fills defaults and rejects thresholds that make no sense. */
export function resolveThresholds(thresholds: CorrectnessThresholds = {}): ResolvedThresholds {
  const t: ResolvedThresholds = { ...defaultThresholds };
  for (const [key, value] of Object.entries(thresholds)) {
    if (value === undefined) continue;
    if (!(key in defaultThresholds)) throw new RangeError(`unknown correctness threshold "${key}"`);
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`correctness threshold ${key} must be a finite number >= 0, got ${value}`);
    }
    (t as unknown as Record<string, number>)[key] = value;
  }
  if (!Number.isInteger(t.topK) || t.topK < 1)
    throw new RangeError(`topK must be an integer >= 1, got ${t.topK}`);
  if (t.minLengthRatio > 1 || t.maxFailedFraction > 1 || t.maxMissingFraction > 1) {
    throw new RangeError("minLengthRatio, maxFailedFraction and maxMissingFraction must be within 0..1");
  }
  return t;
}

/** Evidence and verdict for one candidate output against the reference output of the same request. */
export function comparePrompt(
  reference: GeneratedOutput | undefined,
  candidate: GeneratedOutput,
  teacherForcedMean: number | undefined,
  t: ResolvedThresholds = defaultThresholds,
): PromptEvidence {
  const evidence = create(PromptEvidenceSchema, {
    requestIndex: candidate.requestIndex,
    promptId: candidate.promptId,
    candidateTokens: candidate.tokens.length,
    teacherForcedMeanLogprob: teacherForcedMean ?? Number.NaN,
    referenceMeanLogprob: Number.NaN,
  });
  if (!reference?.ok) {
    evidence.verdict = PromptVerdict.MISSING;
    evidence.reason = reference ? "reference request failed" : "no reference output for this request";
    return evidence;
  }
  evidence.referenceTokens = reference.tokens.length;
  evidence.referenceMeanLogprob = meanLogprob(reference.tokens);
  if (!candidate.ok) {
    evidence.verdict = PromptVerdict.MISSING;
    evidence.reason = "candidate request failed";
    return evidence;
  }
  const failures: string[] = [];
  if (reference.tokens.length === 0) {
    // Without per-token logprobs only the text can be compared.
    evidence.diverged = reference.text !== candidate.text;
    if (evidence.diverged) failures.push("text differs and no logprobs to judge the divergence");
    return finish(evidence, failures);
  }
  if (candidate.tokens.length === 0) {
    failures.push("candidate sent no per-token logprobs");
    return finish(evidence, failures);
  }

  const shorter = Math.min(reference.tokens.length, candidate.tokens.length);
  let i = 0;
  let maxDiff = 0;
  let sumDiff = 0;
  for (; i < shorter; i++) {
    const r = reference.tokens[i] as GeneratedToken;
    const c = candidate.tokens[i] as GeneratedToken;
    if (r.token !== c.token) break;
    const diff = Math.abs(r.logprob - c.logprob);
    if (Number.isFinite(diff)) {
      maxDiff = Math.max(maxDiff, diff);
      sumDiff += diff;
    } else {
      maxDiff = Number.POSITIVE_INFINITY;
    }
  }
  evidence.sharedPrefixTokens = i;
  evidence.maxPrefixLogprobDiff = maxDiff;
  evidence.meanPrefixLogprobDiff = i > 0 ? sumDiff / i : 0;

  if (i < shorter) {
    evidence.diverged = true;
    const r = reference.tokens[i] as GeneratedToken;
    const c = candidate.tokens[i] as GeneratedToken;
    const inRef = r.top.slice(0, t.topK).find((a) => a.token === c.token);
    const inCand = c.top.slice(0, t.topK).find((a) => a.token === r.token);
    evidence.candidateTokenInReferenceTopK = inRef !== undefined;
    evidence.referenceTokenInCandidateTopK = inCand !== undefined;
    evidence.divergenceLogprobGap = inRef ? Math.max(0, r.logprob - inRef.logprob) : 0;
    if (!inRef) failures.push(`divergent token not in reference top-${t.topK}`);
    if (!inCand && c.top.length > 0)
      failures.push(`reference token not in candidate top-${t.topK} at divergence`);
    if (inRef && evidence.divergenceLogprobGap > t.maxDivergenceLogprobGap) {
      failures.push(`divergence logprob gap above ${t.maxDivergenceLogprobGap} nats`);
    }
  }
  if (maxDiff > t.maxPrefixLogprobDiff) {
    failures.push(`logprob difference on shared prefix above ${t.maxPrefixLogprobDiff} nats`);
  } else if (evidence.meanPrefixLogprobDiff > t.maxMeanPrefixLogprobDiff) {
    failures.push(`mean logprob difference on shared prefix above ${t.maxMeanPrefixLogprobDiff} nats`);
  }
  const minTokens = Math.max(2, Math.ceil(t.minLengthRatio * reference.tokens.length));
  if (candidate.tokens.length < Math.min(minTokens, reference.tokens.length)) {
    failures.push(`output shorter than ${t.minLengthRatio} of the reference's`);
  }
  if (teacherForcedMean !== undefined && Number.isFinite(evidence.referenceMeanLogprob)) {
    if (
      !Number.isFinite(teacherForcedMean) ||
      evidence.referenceMeanLogprob - teacherForcedMean > t.maxTeacherForcedDrop
    ) {
      failures.push(
        `teacher-forced log-likelihood more than ${t.maxTeacherForcedDrop} nats/token below the reference's`,
      );
    }
  }
  return finish(evidence, failures);
}

function finish(evidence: PromptEvidence, failures: string[]): PromptEvidence {
  evidence.verdict = failures.length === 0 ? PromptVerdict.PASS : PromptVerdict.FAIL;
  evidence.reason = failures.join("; ");
  return evidence;
}

function meanLogprob(tokens: readonly GeneratedToken[]): number {
  if (tokens.length === 0) return Number.NaN;
  let sum = 0;
  for (const t of tokens) sum += t.logprob;
  return sum / tokens.length;
}

/** One line per reason: "<reason>: 3 outputs (prompts a, b; rep/request 0/1, 0/4, 1/1)". */
function groupReasons(candidate: readonly GeneratedOutput[], evidence: readonly PromptEvidence[]): string[] {
  const byReason = new Map<string, { prompts: Set<string>; where: string[] }>();
  const sorted = [...candidate].sort(
    (a, b) => a.repetition - b.repetition || a.requestIndex - b.requestIndex,
  );
  evidence.forEach((e, n) => {
    if (e.verdict === PromptVerdict.PASS) return;
    const rep = sorted[n]?.repetition ?? 0;
    for (const reason of e.reason.split("; ")) {
      const entry = byReason.get(reason) ?? { prompts: new Set<string>(), where: [] };
      entry.prompts.add(e.promptId);
      entry.where.push(`${rep}/${e.requestIndex}`);
      byReason.set(reason, entry);
    }
  });
  return [...byReason.entries()].map(([reason, { prompts, where }]) => {
    const shown = where.slice(0, 20).join(", ") + (where.length > 20 ? ", ..." : "");
    return `${reason}: ${where.length} output${where.length === 1 ? "" : "s"} (prompts ${[...prompts].slice(0, 20).join(", ")}; rep/request ${shown})`;
  });
}
