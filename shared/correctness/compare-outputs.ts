import { create } from "@bufbuild/protobuf";
import {
  type CorrectnessSummary,
  CorrectnessSummarySchema,
  type PromptEvidence,
  PromptEvidenceSchema,
  PromptVerdict,
} from "../gen/cacheon/v1/correctness_pb.ts";
import { checkIntegrity, type JudgeTokenizer } from "./check-integrity.ts";
import {
  type CorrectnessThresholds,
  type ResolvedThresholds,
  resolveThresholds,
} from "./correctness-thresholds.ts";
import type { GeneratedOutput, GeneratedToken } from "./generated-output.ts";
import { failure, type OutputFailure, outputFailureCodes } from "./output-failure.ts";
import { type TeacherForcedOutput, teacherForcedFigures } from "./teacher-forced-output.ts";

/**
 * Where teacher forcing stands for the outputs being judged:
 * - "done": it ran; an output without a score could not be judged (no decision, never a pass);
 * - "pending": not yet (a provisional verdict while the job runs);
 * - "off": disabled on purpose (`compare --no-teacher-forcing`); outputs are judged without it;
 * - "failed": the reference failed to score; nothing can pass, and the job is no decision.
 */
export type TeacherForcingState =
  | { state: "done" }
  | { state: "pending" }
  | { state: "off" }
  | { state: "failed"; reason: string };

/** Input of {@link compareOutputs}. */
export interface CompareOutputsInput {
  /** The reference arm's outputs (the opening baseline's), matched by repetition and request index. */
  reference: readonly GeneratedOutput[];
  /** The candidate arm's outputs, every timed repetition. */
  candidate: readonly GeneratedOutput[];
  /** The candidate's outputs scored by the reference model, matched by repetition and request index. */
  teacherForced?: readonly TeacherForcedOutput[];
  /**
   * The reference's own outputs scored by the same server: a candidate's mean log-likelihood is held
   * against theirs. Without them, the reference's streamed logprobs stand in.
   */
  referenceTeacherForced?: readonly TeacherForcedOutput[];
  /** How teacher forcing went. @default { state: "done" } */
  teacherForcing?: TeacherForcingState;
  /** What every request asked for. */
  request: { maxTokens: number; fixedOutputLength?: boolean };
  /** The reference's tokenizer, for the integrity checks. */
  tokenizer: JudgeTokenizer;
  /** Tolerances; missing fields take the defaults. */
  thresholds?: CorrectnessThresholds;
}

/**
 * Judges every candidate output against the reference output of the same request and summarises
 * them into the contract's CorrectnessSummary. Each output is checked over its whole length:
 * integrity first (what it claims is what it is, see checkIntegrity), then against the reference's
 * output (length, the first divergence, reported logprobs) and under teacher forcing by the
 * reference model (every token's rank and gap to the reference's best, the lowest and the mean
 * log-likelihood, whether the model would end its turn where the candidate stopped).
 *
 * Fails closed. Integrity failures and failures on canary prompts are never excused; other
 * failures are allowed on at most `maxFailedFraction` of the scored outputs. An output that cannot
 * be judged because of the reference (its request failed, teacher forcing failed or is missing)
 * is never a pass: when nothing else fails, the summary is no decision (`noDecisionReason`), which
 * the controller reruns; a candidate that fails on its own account fails either way. Pure.
 */
export function compareOutputs(input: CompareOutputsInput): CorrectnessSummary {
  const t = resolveThresholds(input.thresholds);
  const tfState = input.teacherForcing ?? { state: "done" };
  const key = (o: { repetition: number; requestIndex: number }) => `${o.repetition}/${o.requestIndex}`;
  const referenceByKey = new Map(input.reference.map((o) => [key(o), o]));
  const referenceByPrompt = new Map<string, GeneratedOutput>();
  for (const o of [...input.reference].sort((a, b) => a.repetition - b.repetition)) {
    if (o.ok && !referenceByPrompt.has(o.promptId)) referenceByPrompt.set(o.promptId, o);
  }
  const tf = new Map((input.teacherForced ?? []).map((s) => [key(s), s]));
  const referenceTf = new Map((input.referenceTeacherForced ?? []).map((s) => [key(s), s]));

  const judged = [...input.candidate]
    .sort((a, b) => a.repetition - b.repetition || a.requestIndex - b.requestIndex)
    .map((cand) => {
      // The same request's reference output; a repeated prompt's from another repetition will do
      // when that one failed (greedy outputs of one prompt are one output).
      let reference = referenceByKey.get(key(cand));
      if (!reference?.ok || reference.promptId !== cand.promptId) {
        reference = referenceByPrompt.get(cand.promptId) ?? reference;
      }
      const refTf = reference ? referenceTf.get(key(reference)) : undefined;
      return judgeOutput({
        reference: reference?.promptId === cand.promptId ? reference : undefined,
        candidate: cand,
        teacherForced: tf.get(key(cand)),
        referenceMean: refTf ? teacherForcedFigures(refTf).meanLogprob : undefined,
        tfState,
        request: input.request,
        tokenizer: input.tokenizer,
        t,
      });
    });

  const evidence = judged.map((j) => j.evidence);
  const passed = evidence.filter((e) => e.verdict === PromptVerdict.PASS).length;
  const failedOutputs = judged.filter((j) => j.evidence.verdict === PromptVerdict.FAIL);
  const missing = evidence.filter((e) => e.verdict === PromptVerdict.MISSING).length;
  const hasIntegrity = (j: JudgedOutput) => j.failures.some((f) => f.kind === "integrity");
  const integrity = failedOutputs.filter(hasIntegrity).length;
  const canaries = failedOutputs.filter((j) => !hasIntegrity(j) && j.evidence.kind === "canary").length;
  const tolerance = failedOutputs.length - integrity - canaries;
  const allowed = Math.floor(t.maxFailedFraction * (passed + failedOutputs.length) + 1e-9);
  const reasons = groupReasons(judged);
  const candidateFails = integrity > 0 || canaries > 0 || tolerance > allowed;
  if (canaries > 0) reasons.push(`canary prompts are judged with no allowance: ${canaries} failed`);
  if (!candidateFails && failedOutputs.length > 0) {
    reasons.push(`${failedOutputs.length} output(s) failed a tolerance, within the allowed ${allowed}`);
  }
  let noDecision = "";
  if (!candidateFails) {
    if (evidence.length === 0) reasons.push("no candidate outputs to judge");
    else if (tfState.state === "failed") noDecision = `teacher forcing failed: ${tfState.reason}`;
    else if (tfState.state === "pending") noDecision = "teacher forcing pending";
    else if (missing > 0) {
      const why = [
        ...new Set(evidence.filter((e) => e.verdict === PromptVerdict.MISSING).map((e) => e.reason)),
      ];
      noDecision = `${missing} output(s) could not be judged because of the reference: ${why.join("; ")}`;
    }
  }
  return create(CorrectnessSummarySchema, {
    passed: !candidateFails && noDecision === "" && evidence.length > 0,
    prompts: evidence.length,
    promptsPassed: passed,
    promptsFailed: failedOutputs.length,
    promptsMissing: missing,
    reasons,
    promptsEvidence: evidence,
    thresholds: [
      ...Object.entries(t).map(([k, v]) => `${k}=${v}`),
      `teacher_forcing=${tfState.state === "failed" ? `failed (${tfState.reason})` : tfState.state}`,
    ],
    noDecisionReason: noDecision,
  });
}

interface JudgeOutputInput {
  reference: GeneratedOutput | undefined;
  candidate: GeneratedOutput;
  teacherForced: TeacherForcedOutput | undefined;
  /** Mean teacher-forced logprob of the reference's own output, when scored. */
  referenceMean: number | undefined;
  tfState: TeacherForcingState;
  request: CompareOutputsInput["request"];
  tokenizer: JudgeTokenizer;
  t: ResolvedThresholds;
}

interface JudgedOutput {
  evidence: PromptEvidence;
  failures: OutputFailure[];
}

/** Evidence and verdict for one candidate output. */
function judgeOutput(input: JudgeOutputInput): JudgedOutput {
  const { reference, candidate, t } = input;
  const evidence = create(PromptEvidenceSchema, {
    repetition: candidate.repetition,
    requestIndex: candidate.requestIndex,
    promptId: candidate.promptId,
    kind: candidate.kind ?? "scored",
    candidateTokens: candidate.tokens.length,
    teacherForcedMeanLogprob: Number.NaN,
    referenceMeanLogprob: Number.NaN,
    maxTeacherForcedGap: Number.NaN,
    minTeacherForcedLogprob: Number.NaN,
    stopGap: Number.NaN,
    retokenizedTokens: -1,
  });
  const integrity = checkIntegrity(candidate, {
    tokenizer: input.tokenizer,
    maxTokens: input.request.maxTokens,
    fixedOutputLength: input.request.fixedOutputLength,
    retokenizedTolerance: t.retokenizedTolerance,
  });
  const failures = [...integrity.failures];
  evidence.retokenizedTokens = integrity.retokenized;
  let unjudged = "";
  if (!reference?.ok) {
    unjudged = reference ? "reference request failed" : "no reference output for this request";
  } else {
    evidence.referenceTokens = reference.tokens.length;
    evidence.referenceMeanLogprob = input.referenceMean ?? meanLogprob(reference.tokens);
    if (reference.tokens.length === 0) unjudged = "the reference sent no per-token logprobs";
    else if (candidate.ok && candidate.tokens.length > 0)
      compareStreams(reference, candidate, t, evidence, failures);
  }
  if (candidate.ok && candidate.tokens.length > 0) {
    const tf = input.teacherForced;
    if (tf) {
      unjudged ||= judgeTeacherForced(tf, candidate, evidence, t, failures);
    } else if (input.tfState.state !== "off") {
      unjudged ||=
        input.tfState.state === "failed" ? "teacher forcing failed" : "not scored by teacher forcing";
    }
  }
  const codes = [...new Set(failures.map((f) => f.code))];
  evidence.reasonCodes = codes;
  if (failures.length > 0) {
    evidence.verdict = PromptVerdict.FAIL;
    evidence.reason = failures.map((f) => `${f.code}: ${f.detail}`).join("; ");
  } else if (unjudged) {
    evidence.verdict = PromptVerdict.MISSING;
    evidence.reason = unjudged;
  } else {
    evidence.verdict = PromptVerdict.PASS;
  }
  return { evidence, failures };
}

/**
 * Compares the two streams: length, the shared prefix's reported logprobs, and at the first
 * divergence each side's token in the other's top-k with a small gap (vLLM's check_logprobs_close).
 */
function compareStreams(
  reference: GeneratedOutput,
  candidate: GeneratedOutput,
  t: ResolvedThresholds,
  evidence: PromptEvidence,
  failures: OutputFailure[],
): void {
  const shorter = Math.min(reference.tokens.length, candidate.tokens.length);
  let i = 0;
  let maxDiff = 0;
  let sumDiff = 0;
  for (; i < shorter; i++) {
    const r = reference.tokens[i] as GeneratedToken;
    const c = candidate.tokens[i] as GeneratedToken;
    if (r.token !== c.token) break;
    const diff = Math.abs(r.logprob - c.logprob);
    maxDiff = Number.isFinite(diff) ? Math.max(maxDiff, diff) : Number.POSITIVE_INFINITY;
    sumDiff += Number.isFinite(diff) ? diff : 0;
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
    if (!inRef) {
      failures.push(
        failure(
          "divergence-not-in-top-k",
          `at token ${i} the candidate's token is not in the reference's top-${t.topK}`,
        ),
      );
    } else if (!inCand) {
      failures.push(
        failure(
          "divergence-not-in-top-k",
          `at token ${i} the reference's token is not in the candidate's top-${t.topK}`,
        ),
      );
    } else if (evidence.divergenceLogprobGap > t.maxTokenGap) {
      failures.push(
        failure(
          "divergence-gap",
          `at token ${i} the reference prefers its own token by ${evidence.divergenceLogprobGap.toFixed(3)} nats (allowed ${t.maxTokenGap})`,
        ),
      );
    }
  }
  if (maxDiff > t.maxPrefixLogprobDiff) {
    failures.push(
      failure(
        "reported-logprobs",
        `on the shared prefix a reported logprob differs from the reference's by ${fmt(maxDiff)} nats (allowed ${t.maxPrefixLogprobDiff})`,
      ),
    );
  } else if (evidence.meanPrefixLogprobDiff > t.maxMeanPrefixLogprobDiff) {
    failures.push(
      failure(
        "reported-logprobs",
        `on the shared prefix reported logprobs differ from the reference's by ${fmt(evidence.meanPrefixLogprobDiff)} nats on average (allowed ${t.maxMeanPrefixLogprobDiff})`,
      ),
    );
  }
  const minTokens = Math.max(2, Math.ceil(t.minLengthRatio * reference.tokens.length));
  if (candidate.tokens.length < Math.min(minTokens, reference.tokens.length)) {
    failures.push(
      failure(
        "too-short",
        `${candidate.tokens.length} tokens, fewer than ${minTokens} (max(2, ceil(${t.minLengthRatio} x ${reference.tokens.length})))`,
      ),
    );
  }
}

/**
 * Judges one output under teacher forcing over its whole length. Returns why it could not be
 * judged when the scores do not cover it (the reference's fault), else "".
 */
function judgeTeacherForced(
  tf: TeacherForcedOutput,
  candidate: GeneratedOutput,
  evidence: PromptEvidence,
  t: ResolvedThresholds,
  failures: OutputFailure[],
): string {
  const n = candidate.tokens.length;
  if (tf.logprobs.length !== n) return `teacher forcing scored ${tf.logprobs.length} of ${n} tokens`;
  if (candidate.finishReason === "stop" && !tf.stop) return "teacher forcing did not score the stop";
  const f = teacherForcedFigures(tf);
  evidence.teacherForcedTokens = n;
  evidence.teacherForcedMeanLogprob = f.meanLogprob;
  evidence.minTeacherForcedLogprob = f.minLogprob;
  evidence.maxTeacherForcedGap = f.maxGap;
  evidence.maxGapPosition = f.maxGapAt;
  evidence.stopGap = f.stopGap;
  if (f.worstRank > t.topK) {
    const at = tf.ranks.findIndex((r) => r > t.topK);
    failures.push(
      failure(
        "teacher-forced-rank",
        `the reference ranks token ${at} ${tf.ranks[at]}, below its top-${t.topK}`,
      ),
    );
  } else if (f.maxGap > t.maxTokenGap) {
    failures.push(
      failure(
        "teacher-forced-gap",
        `at token ${f.maxGapAt} the reference prefers its best token by ${fmt(f.maxGap)} nats (allowed ${t.maxTokenGap})`,
      ),
    );
  }
  if (f.minLogprob < t.minTokenLogprob) {
    failures.push(
      failure(
        "teacher-forced-min",
        `a token has logprob ${fmt(f.minLogprob)} under the reference (minimum ${t.minTokenLogprob})`,
      ),
    );
  }
  const reference = evidence.referenceMeanLogprob;
  if (Number.isFinite(reference) && reference - f.meanLogprob > t.maxTeacherForcedDrop) {
    failures.push(
      failure(
        "teacher-forced-mean",
        `mean log-likelihood ${fmt(f.meanLogprob)} nats/token, ${fmt(reference - f.meanLogprob)} below the reference's ${fmt(reference)} (allowed ${t.maxTeacherForcedDrop})`,
      ),
    );
  }
  // The logprobs the candidate reported are the reference model's within numeric noise.
  let maxDiff = 0;
  let sumDiff = 0;
  for (let i = 0; i < n; i++) {
    const diff = Math.abs((candidate.tokens[i] as GeneratedToken).logprob - (tf.logprobs[i] as number));
    maxDiff = Number.isFinite(diff) ? Math.max(maxDiff, diff) : Number.POSITIVE_INFINITY;
    sumDiff += Number.isFinite(diff) ? diff : 0;
  }
  if (maxDiff > t.maxPrefixLogprobDiff || sumDiff / n > t.maxMeanPrefixLogprobDiff) {
    failures.push(
      failure(
        "reported-logprobs",
        `reported logprobs differ from the reference's teacher-forced ones by up to ${fmt(maxDiff)} nats, ${fmt(sumDiff / n)} on average (allowed ${t.maxPrefixLogprobDiff}, ${t.maxMeanPrefixLogprobDiff})`,
      ),
    );
  }
  if (tf.stop && (f.stopRank > t.topK || f.stopGap > t.maxTokenGap)) {
    failures.push(
      failure(
        "premature-stop",
        `stopped after ${n} tokens where the reference ranks ending the turn ${f.stopRank} and prefers another token by ${fmt(f.stopGap)} nats (allowed ${t.maxTokenGap})`,
      ),
    );
  }
  return "";
}

function meanLogprob(tokens: readonly GeneratedToken[]): number {
  if (tokens.length === 0) return Number.NaN;
  let sum = 0;
  for (const t of tokens) sum += t.logprob;
  return sum / tokens.length;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : String(x);
}

/**
 * One line per failure code: "<code> (<meaning>; e.g. <first detail>): 3 outputs (prompts a, b;
 * rep/request 0/1, 0/4, 1/1)".
 */
function groupReasons(judged: readonly JudgedOutput[]): string[] {
  const byCode = new Map<string, { example: string; prompts: Set<string>; where: string[] }>();
  for (const { evidence: e, failures } of judged) {
    for (const f of failures) {
      const entry = byCode.get(f.code) ?? { example: f.detail, prompts: new Set<string>(), where: [] };
      entry.prompts.add(e.promptId);
      const at = `${e.repetition}/${e.requestIndex}`;
      if (entry.where.at(-1) !== at) entry.where.push(at);
      byCode.set(f.code, entry);
    }
  }
  return [...byCode.entries()].map(([code, { example, prompts, where }]) => {
    const shown = where.slice(0, 20).join(", ") + (where.length > 20 ? ", ..." : "");
    const meaning = outputFailureCodes[code as keyof typeof outputFailureCodes];
    return `${code} (${meaning}; e.g. ${example}): ${where.length} output${where.length === 1 ? "" : "s"} (prompts ${[...prompts].slice(0, 20).join(", ")}; rep/request ${shown})`;
  });
}
