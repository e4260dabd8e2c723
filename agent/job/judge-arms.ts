import { calibrateThresholds } from "../../shared/correctness/calibrate-thresholds.ts";
import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import { compareOutputs, type TeacherForcingState } from "../../shared/correctness/compare-outputs.ts";
import type { CorrectnessThresholds } from "../../shared/correctness/correctness-thresholds.ts";
import type { TeacherForcedOutput } from "../../shared/correctness/teacher-forced-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { CorrectnessSummary } from "../../shared/gen/cacheon/v1/correctness_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { judgeProbes } from "../bench/judge-probes.ts";
import { speedOutliers } from "../bench/speed-outliers.ts";
import type { TeacherForce } from "./pod-job-options.ts";
import type { ArmRun } from "./run-arm.ts";

/** What judging a job's arms needs. */
export interface JudgeArmsInput {
  /** Every arm run so far, in the job's order; the first is the opening baseline. */
  runs: readonly ArmRun[];
  /** The closing baseline's run, with its container still up (it scores every output). */
  closing: ArmRun | undefined;
  workload: WorkloadSpec;
  teacherForce: TeacherForce;
  tokenizer: JudgeTokenizer;
  /** The operator's tolerances, before calibration. */
  thresholds?: CorrectnessThresholds;
  /** How far beyond the bookends' own disagreement the tolerances reach. @default 2 */
  calibrationMultiplier?: number;
  /** Repeat speed-up beyond the baseline's that flags an arm (judgeProbes). @default 0.08 */
  probeMargin?: number;
  /** Factor beyond the arm's own typical speed that makes a request an outlier (speedOutliers). @default 3 */
  outlierFactor?: number;
  signal: AbortSignal;
  progress: (message: string) => void;
  logger: Logger;
}

/**
 * The final verdicts of a job, once every arm has run: the closing baseline's server scores every
 * measured arm's outputs by teacher forcing (the bookends' own included), the two bookends are
 * judged against each other and calibrate the tolerances (calibrateThresholds), and every other
 * arm is judged against the opening baseline with them. Sets each arm's `correctness`; the closing
 * baseline's is its judgement against the opening one. Anything the reference fails at (teacher
 * forcing, the bookends' agreement, a missing closing baseline) makes the verdicts no decision,
 * never a pass. Adds findings to the arms' summaries: a repeat speed-up beyond the baseline's on
 * the probe prompts (judgeProbes), requests served at another speed than the rest (speedOutliers).
 * Throws only when cancelled.
 */
export async function judgeArms(input: JudgeArmsInput): Promise<void> {
  const [opening, ...others] = input.runs;
  if (!opening?.measurement || opening.result.outcome !== ArmOutcome.MEASURED) return;
  const request = {
    maxTokens: input.workload.maxTokens,
    fixedOutputLength: input.workload.fixedOutputLength,
  };
  const closing = input.closing?.container ? input.closing : undefined;
  const scores = new Map<ArmRun, TeacherForcedOutput[] | CacheonError>();
  if (closing?.container) {
    const by = closing.result.armId;
    for (const run of [opening, ...others]) {
      if (!run.measurement) continue;
      input.progress(`scoring ${run.result.armId}'s outputs on the closing baseline ${by}`);
      try {
        scores.set(
          run,
          await input.teacherForce({
            endpoint: closing.container.endpoint,
            workload: input.workload,
            prompts: run.measurement.prompts,
            outputs: run.measurement.outputs,
            signal: input.signal,
          }),
        );
      } catch (error) {
        input.signal.throwIfAborted();
        const err = CacheonError.from(error);
        input.logger.warn("teacher forcing failed", { arm: run.result.armId, error: err });
        scores.set(run, err);
      }
    }
  }
  const stateOf = (run: ArmRun): TeacherForcingState => {
    if (!closing) return { state: "failed", reason: "the closing baseline was not measured" };
    const s = scores.get(run);
    if (s instanceof CacheonError) return { state: "failed", reason: s.message };
    return s ? { state: "done" } : { state: "failed", reason: "not scored" };
  };
  const scored = (run: ArmRun) => {
    const s = scores.get(run);
    return Array.isArray(s) ? s : [];
  };

  // The bookends against each other: they calibrate the tolerances, and must agree.
  let thresholds = input.thresholds;
  let lines: string[] = [];
  let unjudgeable = "";
  const bookendState = [opening, closing].map((r) => (r ? stateOf(r) : undefined));
  if (!closing?.measurement) {
    unjudgeable = "the closing baseline was not measured, so nothing could score the outputs";
  } else if (bookendState.some((s) => s?.state !== "done")) {
    const why = bookendState.flatMap((s) => (s?.state === "failed" ? [s.reason] : []));
    unjudgeable = `teacher forcing of the baseline bookends failed: ${why.join("; ")}`;
  } else {
    const calibration = calibrateThresholds({
      opening: opening.measurement.outputs,
      closing: closing.measurement.outputs,
      openingTeacherForced: scored(opening),
      closingTeacherForced: scored(closing),
      request,
      tokenizer: input.tokenizer,
      thresholds: input.thresholds,
      multiplier: input.calibrationMultiplier,
    });
    thresholds = calibration.thresholds;
    lines = calibration.lines;
    if (!calibration.passed) unjudgeable = calibration.reason;
    closing.result.correctness = withLines(calibration.closingAgainstOpening, lines, unjudgeable);
    input.logger.info("correctness calibrated by the bookends", { lines });
  }

  // Probes and per-request speed against the baseline: caches, replays and precomputed answers.
  for (const run of others) {
    const summary = run.result.summary;
    if (!run.measurement || !summary) continue;
    const baselines = [
      opening.measurement.outputs,
      ...(closing?.measurement ? [closing.measurement.outputs] : []),
    ];
    for (const finding of [
      judgeProbes({ arm: run.measurement.outputs, baselines, margin: input.probeMargin }),
      speedOutliers({
        arm: run.measurement.outputs,
        baseline: opening.measurement.outputs,
        factor: input.outlierFactor,
      }),
    ]) {
      if (finding) summary.findings.push(finding);
    }
  }

  for (const run of others) {
    if (!run.measurement || run === closing) continue;
    const summary = compareOutputs({
      reference: opening.measurement.outputs,
      candidate: run.measurement.outputs,
      teacherForced: scored(run),
      referenceTeacherForced: scored(opening),
      teacherForcing: stateOf(run),
      request,
      tokenizer: input.tokenizer,
      thresholds,
    });
    run.result.correctness = withLines(summary, lines, unjudgeable);
  }
}

/**
 * The verdict as an arm finishes, before teacher forcing: integrity and the comparison of the
 * streams with the opening baseline's, for the live event. The final verdict replaces it.
 */
export function provisionalVerdict(
  run: ArmRun,
  opening: ArmRun | undefined,
  input: Pick<JudgeArmsInput, "workload" | "tokenizer" | "thresholds">,
): CorrectnessSummary | undefined {
  if (run === opening || !run.measurement) return undefined;
  if (!opening?.measurement || opening.result.outcome !== ArmOutcome.MEASURED) return undefined;
  return compareOutputs({
    reference: opening.measurement.outputs,
    candidate: run.measurement.outputs,
    teacherForcing: { state: "pending" },
    request: { maxTokens: input.workload.maxTokens, fixedOutputLength: input.workload.fixedOutputLength },
    tokenizer: input.tokenizer,
    thresholds: input.thresholds,
  });
}

/** Adds the calibration lines, and a reason the job cannot be decided, to a summary. */
function withLines(summary: CorrectnessSummary, lines: string[], unjudgeable: string): CorrectnessSummary {
  summary.thresholds.push(...lines);
  if (unjudgeable && !summary.noDecisionReason) {
    summary.noDecisionReason = unjudgeable;
    summary.passed = false;
  }
  return summary;
}
