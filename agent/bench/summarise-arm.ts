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

/** Limits of the findings {@link summariseArm} writes (the client-bound finding's). */
export type FindingLimits = ClientBoundLimits;

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
 * used, failures by code, the client's own load, and findings (usage disagreements, a
 * client-bound measurement). Pure.
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
  // Whether repeats ran faster is judged against the baseline's repeats (judgeProbes), never
  // against the arm's own first time: a slow first repetition on a busy machine is no cache.
  const findings = [
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
