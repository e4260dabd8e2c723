import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import { compareOutputs, type TeacherForcingState } from "../../shared/correctness/compare-outputs.ts";
import type { CorrectnessThresholds } from "../../shared/correctness/correctness-thresholds.ts";
import type { TeacherForcedOutput } from "../../shared/correctness/teacher-forced-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { CorrectnessSummary } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import type { TokenKTiming } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { tokenKSpeed } from "../../shared/stats/token-k-speed.ts";
import { qwenTokenizer } from "../../shared/tokenizer/qwen-tokenizer.ts";
import { judgeProbes } from "./judge-probes.ts";
import { type RunWorkloadOptions, runWorkload, type WorkloadRun } from "./run-workload.ts";
import { speedOutliers } from "./speed-outliers.ts";
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
  /**
   * Score every output with the reference model. Off, the verdict is not a validator's: outputs
   * are judged without it. @default true
   */
  teacherForcing?: boolean;
  /** The reference's tokenizer, for the integrity checks. @default qwenTokenizer() */
  tokenizer?: JudgeTokenizer;
  /** Ids that end the model's turn (teacher forcing scores one after a stopped output). @default Qwen's */
  endOfTurnIds?: readonly number[];
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
  /** The candidate's outputs scored by the reference model (empty when disabled or failed). */
  teacherForced: TeacherForcedOutput[];
  /** Correctness verdict of the candidate against the reference, from the timed outputs. */
  correctness: CorrectnessSummary;
}

/**
 * Measures the reference and then the candidate on the same workload and round seed (same
 * requests, same order), has the reference score every output (teacher forcing), judges the
 * candidate's against the reference's, and adds timing findings to the candidate's summary
 * (repeat speed-up on probes beyond the reference's, requests served at another speed).
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
  const tokenizer = options.tokenizer ?? qwenTokenizer();
  let teacherForced: TeacherForcedOutput[] = [];
  let referenceTeacherForced: TeacherForcedOutput[] = [];
  let tfState: TeacherForcingState = { state: "off" };
  if ((teacherForcing ?? true) && options.workload.topLogprobs > 0) {
    const total = candidate.outputs.length + reference.outputs.length;
    onProgress?.("teacher-forcing", 0, total);
    const score = (outputs: WorkloadRun["outputs"], prompts: WorkloadRun["prompts"]) =>
      teacherForce({
        reference: referenceUrl,
        model: options.model ?? options.workload.model,
        outputs,
        prompts,
        tokenizer,
        topK: options.workload.topLogprobs,
        endOfTurnIds: options.endOfTurnIds,
        signal: options.signal,
        logger,
      });
    try {
      teacherForced = await score(candidate.outputs, candidate.prompts);
      referenceTeacherForced = await score(reference.outputs, reference.prompts);
      tfState = { state: "done" };
    } catch (error) {
      const err = CacheonError.from(error);
      if (err.code === "cancelled") throw err;
      tfState = { state: "failed", reason: err.message };
      teacherForced = [];
      referenceTeacherForced = [];
    }
    onProgress?.("teacher-forcing", total, total);
  }
  const correctness = compareOutputs({
    reference: reference.outputs,
    candidate: candidate.outputs,
    teacherForced,
    referenceTeacherForced,
    teacherForcing: tfState,
    request: { maxTokens: options.workload.maxTokens, fixedOutputLength: options.workload.fixedOutputLength },
    tokenizer,
    thresholds: { topK: Math.max(1, options.workload.topLogprobs), ...thresholds },
  });
  for (const finding of [
    judgeProbes({ arm: candidate.outputs, baselines: [reference.outputs] }),
    speedOutliers({ arm: candidate.outputs, baseline: reference.outputs }),
  ]) {
    if (finding) candidate.summary.findings.push(finding);
  }
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
