import type { CorrectnessSummary } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import { PromptVerdict } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import {
  type ArmSummary,
  type Distribution,
  type RequestMetrics,
  TokenCountSource,
} from "../../shared/gen/cacheon/v1/metrics_pb.ts";

/** A distribution as the JSON report writes it. */
export interface DistributionJson {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  count: number;
}

/** The JSON report of one measured server (`cacheon-agent bench --json`). Keys are stable. */
export interface BenchReportJson {
  endpoint: string;
  model: string;
  seed: string;
  requests: number;
  completed: number;
  failed: number;
  wall_s: number;
  repetition_wall_s: number[];
  wall_cv: number;
  output_tokens: number;
  output_tokens_per_s: number;
  requests_per_s: number;
  token_count_source: "logprobs" | "usage" | "chunks" | "unknown";
  ttft_ms: DistributionJson;
  tpot_ms: DistributionJson;
  itl_ms: DistributionJson;
  e2e_ms: DistributionJson;
  queued_ms: DistributionJson;
  failures_by_code: Record<string, number>;
  findings: string[];
  /** One entry per timed request. */
  per_request: RequestJson[];
}

/** One request in the JSON report. */
export interface RequestJson {
  repetition: number;
  request_index: number;
  prompt_id: string;
  ok: boolean;
  failure: string;
  failure_detail: string;
  queued_ms: number;
  ttft_ms: number;
  tpot_ms: number;
  e2e_ms: number;
  output_tokens: number;
  usage_completion_tokens: number;
  content_chunks: number;
  max_itl_ms: number;
  finish_reason: string;
}

/** The JSON report of `cacheon-agent compare --json`. */
export interface CompareReportJson {
  /**
   * "pass" when the candidate is correct, completed every request and shows no findings (a
   * client-bound one aside: it is the measuring machine's limitation, not the candidate's);
   * "no-decision" when the reference could not judge it (rerun); else "fail".
   */
  verdict: "pass" | "fail" | "no-decision";
  /**
   * The candidate's speed against the reference, above 1 faster: the median over requests of
   * reference time / candidate time to token k (k = the fewer tokens of the two), or whole wall
   * when the workload asks for no logprobs (see speed_statistic).
   */
  speed_ratio: number;
  /** "time-to-token-k" or "whole-wall". */
  speed_statistic: string;
  /** Reference wall time / candidate wall time: the secondary figure. */
  wall_ratio: number;
  seed: string;
  model: string;
  reference: BenchReportJson;
  candidate: BenchReportJson;
  correctness: {
    passed: boolean;
    /** Non-empty when the reference, not the candidate, kept the outputs from being judged. */
    no_decision_reason: string;
    prompts: number;
    prompts_passed: number;
    prompts_failed: number;
    prompts_missing: number;
    reasons: string[];
    thresholds: string[];
    evidence: Array<Record<string, number | string | boolean | null>>;
  };
}

/** The name the JSON report uses for a token-count source. */
export function tokenSourceName(source: TokenCountSource): BenchReportJson["token_count_source"] {
  switch (source) {
    case TokenCountSource.LOGPROBS:
      return "logprobs";
    case TokenCountSource.USAGE:
      return "usage";
    case TokenCountSource.CHUNKS:
      return "chunks";
    default:
      return "unknown";
  }
}

/** A Distribution as plain JSON, rounded to microseconds. */
export function distributionJson(d: Distribution | undefined): DistributionJson {
  return {
    mean: round(d?.mean ?? 0),
    p50: round(d?.p50 ?? 0),
    p90: round(d?.p90 ?? 0),
    p99: round(d?.p99 ?? 0),
    min: round(d?.min ?? 0),
    max: round(d?.max ?? 0),
    count: d?.count ?? 0,
  };
}

/** Input of {@link benchReportJson}. */
export interface BenchReportInput {
  endpoint: string;
  model: string;
  seed: string;
  summary: ArmSummary;
  requests: readonly RequestMetrics[];
}

/** Builds the JSON report of one measured server. */
export function benchReportJson(input: BenchReportInput): BenchReportJson {
  const s = input.summary;
  return {
    endpoint: input.endpoint,
    model: input.model,
    seed: input.seed,
    requests: s.requests,
    completed: s.completed,
    failed: s.failed,
    wall_s: round(s.wallS),
    repetition_wall_s: s.repetitionWallS.map(round),
    wall_cv: round(s.wallCv),
    output_tokens: Number(s.outputTokens),
    output_tokens_per_s: round(s.outputTokensPerS),
    requests_per_s: round(s.requestsPerS),
    token_count_source: tokenSourceName(s.tokenCountSource),
    ttft_ms: distributionJson(s.ttftMs),
    tpot_ms: distributionJson(s.tpotMs),
    itl_ms: distributionJson(s.itlMs),
    e2e_ms: distributionJson(s.e2eMs),
    queued_ms: distributionJson(s.queuedMs),
    failures_by_code: { ...s.failuresByCode },
    findings: [...s.findings],
    per_request: input.requests.map((r) => ({
      repetition: r.repetition,
      request_index: r.requestIndex,
      prompt_id: r.promptId,
      ok: r.ok,
      failure: r.failure,
      failure_detail: r.failureDetail,
      queued_ms: round(r.queuedMs),
      ttft_ms: round(r.ttftMs),
      tpot_ms: round(r.tpotMs),
      e2e_ms: round(r.e2eMs),
      output_tokens: r.outputTokens,
      usage_completion_tokens: r.usageCompletionTokens,
      content_chunks: r.contentChunks,
      max_itl_ms: round(r.maxItlMs),
      finish_reason: r.finishReason,
    })),
  };
}

/** The correctness part of the compare report. */
export function correctnessJson(c: CorrectnessSummary): CompareReportJson["correctness"] {
  const verdicts: Record<number, string> = {
    [PromptVerdict.PASS]: "pass",
    [PromptVerdict.FAIL]: "fail",
    [PromptVerdict.MISSING]: "missing",
  };
  return {
    passed: c.passed,
    no_decision_reason: c.noDecisionReason,
    prompts: c.prompts,
    prompts_passed: c.promptsPassed,
    prompts_failed: c.promptsFailed,
    prompts_missing: c.promptsMissing,
    reasons: [...c.reasons],
    thresholds: [...c.thresholds],
    evidence: c.promptsEvidence.map((e) => ({
      repetition: e.repetition,
      request_index: e.requestIndex,
      prompt_id: e.promptId,
      kind: e.kind,
      verdict: verdicts[e.verdict] ?? "unjudged",
      reason: e.reason,
      reason_codes: e.reasonCodes.join(","),
      reference_tokens: e.referenceTokens,
      candidate_tokens: e.candidateTokens,
      shared_prefix_tokens: e.sharedPrefixTokens,
      diverged: e.diverged,
      candidate_token_in_reference_top_k: e.candidateTokenInReferenceTopK,
      reference_token_in_candidate_top_k: e.referenceTokenInCandidateTopK,
      divergence_logprob_gap: round(e.divergenceLogprobGap),
      max_prefix_logprob_diff: round(e.maxPrefixLogprobDiff),
      mean_prefix_logprob_diff: round(e.meanPrefixLogprobDiff),
      teacher_forced_mean_logprob: Number.isFinite(e.teacherForcedMeanLogprob)
        ? round(e.teacherForcedMeanLogprob)
        : null,
      reference_mean_logprob: Number.isFinite(e.referenceMeanLogprob) ? round(e.referenceMeanLogprob) : null,
      teacher_forced_tokens: e.teacherForcedTokens,
      max_teacher_forced_gap: finiteOrNull(e.maxTeacherForcedGap),
      max_gap_position: e.maxGapPosition,
      min_teacher_forced_logprob: finiteOrNull(e.minTeacherForcedLogprob),
      stop_gap: finiteOrNull(e.stopGap),
      retokenized_tokens: e.retokenizedTokens,
    })),
  };
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? round(x) : null;
}

/** Rounds to 6 decimals (sub-microsecond digits of a millisecond are noise). */
function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : 0;
}
