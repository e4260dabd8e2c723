import {
  type CorrectnessThresholds,
  compareOutputs,
  type TeacherForcedScore,
} from "../../shared/correctness/compare-outputs.ts";
import type { CorrectnessSummary } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import type { TokenKTiming } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { tokenKSpeed } from "../../shared/stats/token-k-speed.ts";
import { type RunWorkloadOptions, runWorkload, type WorkloadRun } from "./run-workload.ts";
import { teacherForce } from "./teacher-force.ts";
import { tokenKTimings } from "./token-k-timings.ts";

/** Options of {@link compareEndpoints}. */
export interface CompareEndpointsOptions
  extends Omit<RunWorkloadOptions, "endpoint" | "armId" | "onProgress" | "onRequest"> {
  /** Base URL of the reference server (the pinned baseline). It also scores the candidate's outputs. */
  reference: string;
  /** Base URL of the candidate server. */
  candidate: string;
  /** Correctness tolerances. */
  thresholds?: CorrectnessThresholds;
  /** Score the candidate's outputs with the reference model. @default true */
  teacherForcing?: boolean;
  /** Called with the phase and its progress. */
  onProgress?(phase: "reference" | "candidate" | "teacher-forcing", done: number, total: number): void;
}

/** Result of {@link compareEndpoints}. */
export interface EndpointComparison {
  reference: WorkloadRun;
  candidate: WorkloadRun;
  /**
   * The candidate's speed against the reference, above 1 faster: by time to token k (the median over
   * requests of reference time / candidate time to token k, k the fewer tokens of the two), or by
   * whole wall time when the workload asks for no per-token logprobs (see `speedStatistic`).
   */
  speedRatio: number;
  /** Which statistic speedRatio is. */
  speedStatistic: "time-to-token-k" | "whole-wall";
  /** Reference wall time / candidate wall time (medians over repetitions): the secondary figure. */
  wallRatio: number;
  /** Per-request times to token k behind speedRatio. */
  tokenK: TokenKTiming[];
  /** Teacher-forced scores of the candidate's outputs (empty when disabled). */
  teacherForced: TeacherForcedScore[];
  /** Correctness verdict of the candidate against the reference, from the timed outputs. */
  correctness: CorrectnessSummary;
}

/**
 * Measures the reference and then the candidate on the same workload and round seed (same
 * requests, same order), has the reference score the candidate's outputs, and judges them.
 */
export async function compareEndpoints(options: CompareEndpointsOptions): Promise<EndpointComparison> {
  const logger = options.logger ?? silentLogger;
  const {
    reference: referenceUrl,
    candidate: candidateUrl,
    thresholds,
    teacherForcing,
    onProgress,
    ...shared
  } = options;
  const runArm = (arm: "reference" | "candidate", endpoint: string) =>
    runWorkload({
      ...shared,
      endpoint,
      armId: arm,
      logger: logger.child({ arm }),
      onProgress: (d, t) => onProgress?.(arm, d, t),
    });
  const reference = await runArm("reference", referenceUrl);
  const candidate = await runArm("candidate", candidateUrl);
  let teacherForced: TeacherForcedScore[] = [];
  if ((teacherForcing ?? true) && options.workload.topLogprobs > 0) {
    onProgress?.("teacher-forcing", 0, candidate.outputs.length);
    teacherForced = await teacherForce({
      reference: referenceUrl,
      model: options.model ?? options.workload.model,
      outputs: candidate.outputs,
      prompts: candidate.prompts,
      signal: options.signal,
      logger,
    });
    onProgress?.("teacher-forcing", candidate.outputs.length, candidate.outputs.length);
  }
  const correctness = compareOutputs({
    reference: reference.outputs,
    candidate: candidate.outputs,
    teacherForced,
    thresholds: { topK: Math.max(1, options.workload.topLogprobs), ...thresholds },
  });
  const wallRatio = candidate.summary.wallS > 0 ? reference.summary.wallS / candidate.summary.wallS : 0;
  const tokenK = tokenKTimings({ arm: candidate.outputs, opening: reference.outputs });
  const perToken = options.workload.topLogprobs > 0;
  const speed = tokenKSpeed(tokenK, { position: 0 }).speed;
  return {
    reference,
    candidate,
    speedRatio: perToken ? (Number.isFinite(speed) ? speed : 0) : wallRatio,
    speedStatistic: perToken ? "time-to-token-k" : "whole-wall",
    wallRatio,
    tokenK,
    teacherForced,
    correctness,
  };
}
