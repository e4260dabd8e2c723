import type { JobContext, JobExecutor } from "../../agent/job/job-executor.ts";
import { armMeasurements } from "../../controller/rounds/arm-measurements.ts";
import { evaluationJob } from "../../controller/rounds/evaluation-job.ts";
import { armsFor } from "../../controller/rounds/plan-jobs.ts";
import type { RoundSettings } from "../../controller/rounds/round-settings.ts";
import { readingOf } from "../../controller/scoring/reading-of.ts";
import { type JobScore, scoreJob } from "../../controller/scoring/score-job.ts";
import type { ScoringPolicy } from "../../controller/scoring/scoring-policy.ts";
import {
  type ChallengerReading,
  classifyReading,
  type Promotion,
  type Standing,
} from "../../controller/scoring/settle-standing.ts";
import { decodeEvidence } from "../../shared/evidence/evidence-bundle.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { RequestMetrics } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { generatesPrompts, withJobPrompts } from "../../shared/workload/job-prompts.ts";

/** The submission ids the evaluation gives the miner's image and the leader's. */
export const evaluatedId = "yours";
export const leaderId = "leader";

/** Options of {@link evaluateImage}. */
export interface EvaluateImageOptions {
  /** The controller's round settings (the same configuration schema and defaults as a validator's). */
  settings: RoundSettings;
  /** The controller's scoring policy. */
  policy: ScoringPolicy;
  /** The miner's image, pinned by digest. */
  image: string;
  /** The leader's image, pinned by digest: run beside yours, as validators do. @default none */
  leader?: string | undefined;
  /** The job's seed (hex); the same seed makes the same prompts from the same secret. */
  seed: string;
  /**
   * The secret generated prompts derive from (the validator's is private; yours makes prompts of
   * the same kind). Unused for a bundled pool workload.
   */
  promptSecret: Uint8Array | undefined;
  /** Runs the job: the agent's pod job on this machine (`createPodJobExecutor`). */
  executor: JobExecutor;
  signal: AbortSignal;
  /** Receives the job's events (progress, arms finished). */
  emit?: JobContext["emit"];
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
}

/** What a validator would conclude from the job. */
export interface Evaluation {
  job: EvaluationJob;
  result: JobResult;
  score: JobScore;
  /** Your image's reading: gate, speed, comparisons with the seat and the baseline (bar, noise). */
  reading: ChallengerReading | undefined;
  /** Where the reading puts you, by the controller's own rule (classifyReading). */
  promotion: Promotion;
  /** Every arm's timed requests as the agent measured them (RequestMetrics.armId names the arm). */
  requests: RequestMetrics[];
  /** Every measured arm's per-token arrival times (ms from sending) of each timed output, from its evidence bundle. */
  tokenTimes: Map<string, number[][]>;
}

/**
 * Runs a validator's evaluation job of one image on this machine and judges it with the
 * controller's own code: the job built by `evaluationJob` from the round settings (arms by
 * `armsFor`: bookends, the leader when given, your image), prompts made as the controller makes
 * them, then `scoreJob`, `readingOf` and `classifyReading` with the policy. Nothing here decides
 * anything itself.
 */
export async function evaluateImage(options: EvaluateImageOptions): Promise<Evaluation> {
  const { settings, policy } = options;
  const now = options.now ?? Date.now;
  const yours = { submissionId: evaluatedId, hotkey: "", image: options.image };
  const leader = options.leader ? { submissionId: leaderId, hotkey: "", image: options.leader } : undefined;
  const jobId = `evaluate-${options.seed}`;
  let job = evaluationJob(settings, {
    jobId,
    roundId: "local",
    seed: options.seed,
    deadlineMs: now() + settings.jobTimeoutMs,
    arms: armsFor([yours], leader, undefined, settings.interleavedBlocks),
  });
  if (generatesPrompts(job)) job = await withJobPrompts(job, options.promptSecret, options.signal);
  const requests: RequestMetrics[] = [];
  const tokenTimes = new Map<string, number[][]>();
  const result = await options.executor(job, {
    signal: options.signal,
    emit: (payload) => {
      if (payload.case === "metrics") requests.push(...payload.value.metrics);
      options.emit?.(payload);
    },
    artefact: (_name, body) => {
      const bundle = decodeEvidence(body);
      const times = (bundle.measurement?.outputs ?? []).flatMap((o) =>
        o.ok && o.tokenTimesMs ? [o.tokenTimesMs] : [],
      );
      tokenTimes.set(bundle.armId, times);
    },
  });
  const score = scoreJob(armMeasurements(job, result), policy);
  const reading = readingOf(score, { jobId, podId: "local" }, evaluatedId, policy);
  // The leader's seat as validators hold it; its speed is measured again beside yours.
  const standing: Standing = leader
    ? { leader: { submissionId: leaderId, hotkey: "", commitBlock: 0, settledSpeed: 1 } }
    : {};
  return {
    job,
    result,
    score,
    reading,
    promotion: classifyReading(reading, standing, policy),
    requests,
    tokenTimes,
  };
}
