import { create } from "@bufbuild/protobuf";
import {
  type ArmSummary,
  ArmSummarySchema,
  ClientLoadSchema,
  type RequestMetrics,
  TokenCountSource,
} from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { coefficientOfVariation, median, summarise } from "../../shared/stats/summarise.ts";
import { type ClientBoundLimits, type ClientLoad, clientBoundFindings } from "./client-load.ts";

/** Limits of the findings {@link summariseArm} writes. */
export interface FindingLimits extends ClientBoundLimits {
  /**
   * Later repetitions of the same prompts faster than the first by more than this fraction of the
   * first's wall time are flagged (MLPerf TEST04 uses 10% on long runs; short runs on busy machines
   * vary more, and legitimate prefix caching saves only the prefill). @default 0.25
   */
  maxRepetitionSpeedup?: number;
  /**
   * A request whose E2E in a later repetition is below this fraction of the same prompt's first
   * E2E counts as a suspected cache hit; more than a quarter of such requests is flagged. E2E, not
   * TTFT: prefix caching (legitimate) cuts TTFT on a repeated prompt, a response cache cuts
   * everything. @default 0.5
   */
  cacheHitE2eRatio?: number;
}

/** Input of {@link summariseArm}. */
export interface SummariseArmInput {
  /** Arm summarised. */
  armId: string;
  /** Metrics of every timed request, all repetitions. */
  requests: readonly RequestMetrics[];
  /** Wall time of each repetition, seconds. */
  repetitionWallS: readonly number[];
  /** Gaps between content chunks of ok requests, ms. */
  itlMs: Iterable<number>;
  /** Requests whose usage disagreed with the logprob count while recorded as ok ("flag" mode). */
  usageMismatches?: number;
  /** Limits of the findings. */
  limits?: FindingLimits;
  /** The measuring client's own load in each repetition's timed window. */
  clientLoad?: readonly ClientLoad[];
}

const sourceRank: Record<number, number> = {
  [TokenCountSource.LOGPROBS]: 3,
  [TokenCountSource.USAGE]: 2,
  [TokenCountSource.CHUNKS]: 1,
  [TokenCountSource.UNSPECIFIED]: 0,
};

/**
 * Summarises an arm's timed requests into the contract's ArmSummary: distributions over ok
 * requests, throughput over the wall time of all repetitions, the weakest token-count source
 * used, failures by code, the client's own load, and findings (cached repetitions, usage
 * disagreements, a client-bound measurement). Pure.
 */
export function summariseArm(input: SummariseArmInput): ArmSummary {
  const ok = input.requests.filter((r) => r.ok);
  const failuresByCode: Record<string, number> = {};
  for (const r of input.requests) if (!r.ok) failuresByCode[r.failure] = (failuresByCode[r.failure] ?? 0) + 1;
  let outputTokens = 0;
  let weakest: TokenCountSource | undefined;
  for (const r of ok) {
    outputTokens += r.outputTokens;
    if (weakest === undefined || (sourceRank[r.tokenCountSource] ?? 0) < (sourceRank[weakest] ?? 0)) {
      weakest = r.tokenCountSource;
    }
  }
  const totalWall = input.repetitionWallS.reduce((a, b) => a + b, 0);
  const findings = [
    ...repetitionFindings(input.requests, input.repetitionWallS, input.limits),
    ...(input.usageMismatches
      ? [
          `${input.usageMismatches} request(s) reported usage.completion_tokens different from the tokens streamed`,
        ]
      : []),
    ...clientBoundFindings(input.clientLoad ?? [], input.limits),
  ];
  return create(ArmSummarySchema, {
    armId: input.armId,
    requests: input.requests.length,
    completed: ok.length,
    failed: input.requests.length - ok.length,
    repetitionWallS: [...input.repetitionWallS],
    wallS: input.repetitionWallS.length > 0 ? median(input.repetitionWallS) : 0,
    outputTokens: BigInt(outputTokens),
    outputTokensPerS: totalWall > 0 ? outputTokens / totalWall : 0,
    requestsPerS: totalWall > 0 ? ok.length / totalWall : 0,
    ttftMs: summarise(ok.map((r) => r.ttftMs)),
    tpotMs: summarise(ok.filter((r) => r.outputTokens > 1).map((r) => r.tpotMs)),
    itlMs: summarise(input.itlMs),
    e2eMs: summarise(ok.map((r) => r.e2eMs)),
    queuedMs: summarise(input.requests.map((r) => r.queuedMs)),
    tokenCountSource: weakest ?? TokenCountSource.UNSPECIFIED,
    failuresByCode,
    wallCv: coefficientOfVariation(input.repetitionWallS),
    findings,
    clientLoad: (input.clientLoad ?? []).map((load) => create(ClientLoadSchema, load)),
  });
}

/**
 * Evidence of response caching: the same prompts sent again should take about as long. Compares
 * later repetitions' wall times with the first's, and each prompt's later E2E with its first.
 */
export function repetitionFindings(
  requests: readonly RequestMetrics[],
  repetitionWallS: readonly number[],
  limits: FindingLimits = {},
): string[] {
  const maxSpeedup = limits.maxRepetitionSpeedup ?? 0.25;
  const hitRatio = limits.cacheHitE2eRatio ?? 0.5;
  const findings: string[] = [];
  const [first, ...later] = repetitionWallS;
  // Whole repetitions compare only when they send the same prompts (a pool workload); generated
  // workloads send fresh ones each time, and then only their probes repeat (compared below).
  const promptAt = new Map<number, string>();
  let samePrompts = true;
  for (const r of requests) {
    const known = promptAt.get(r.requestIndex);
    if (known === undefined) promptAt.set(r.requestIndex, r.promptId);
    else if (known !== r.promptId) samePrompts = false;
  }
  if (samePrompts && first !== undefined && first > 0 && later.length > 0) {
    const laterMedian = median(later);
    if (laterMedian < first * (1 - maxSpeedup)) {
      findings.push(
        `repeated prompts ran ${(first / laterMedian).toFixed(2)}x faster than the first time (wall ${first.toFixed(3)} s, then median ${laterMedian.toFixed(3)} s; limit ${(maxSpeedup * 100).toFixed(0)}%): responses may be cached`,
      );
    }
  }
  // Each prompt's later end-to-end times against its first (by prompt, so fresh prompts never
  // compare with each other).
  const firstE2e = new Map<string, { repetition: number; e2eMs: number }>();
  for (const r of requests) {
    const known = firstE2e.get(r.promptId);
    if (r.ok && (!known || r.repetition < known.repetition)) firstE2e.set(r.promptId, r);
  }
  let compared = 0;
  let hits = 0;
  for (const r of requests) {
    const earliest = firstE2e.get(r.promptId);
    if (!r.ok || !earliest || r.repetition <= earliest.repetition) continue;
    const base = earliest.e2eMs;
    if (base === undefined || base <= 0) continue;
    compared += 1;
    if (r.e2eMs < base * hitRatio) hits += 1;
  }
  if (compared > 0 && hits / compared > 0.25) {
    findings.push(
      `${hits} of ${compared} repeated requests took under ${hitRatio}x of the same prompt's first end-to-end time: responses may be cached`,
    );
  }
  return findings;
}
