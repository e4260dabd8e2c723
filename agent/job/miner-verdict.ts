import { ArmRole, type EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type ArmResult, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { enumName } from "./run-arm.ts";
import { isBaseline } from "./validate-job.ts";

/** What a validator would conclude about one challenger, for a miner testing locally. */
export interface MinerVerdict {
  armId: string;
  /** How the arm ended ("MEASURED", "NEVER_READY", ...). */
  outcome: string;
  /** The challenger's wall time, s (median of repetitions); NaN when not measured. */
  wallS: number;
  /** Mean wall time of the measured baseline arms, s; NaN when none was measured. */
  baselineWallS: number;
  /** (baseline - challenger) / baseline: 0.05 means 5% faster than the baseline; NaN when unknown. */
  improvement: number;
  /** Spread of the baseline reads, (max - min) / mean: a gain inside it is no decision. */
  baselineNoise: number;
  /** True when the correctness gate passed. */
  correct: boolean;
  /** Everything that would score the submission zero, each with what to do; empty when none. */
  disqualifications: string[];
}

/**
 * Turns a job result into per-challenger verdicts a miner can act on. Pure. Speed is the wall time
 * of the timed workload against the baseline's on the same machine; any failed outcome or
 * correctness failure disqualifies.
 */
export function minerVerdicts(job: EvaluationJob, result: JobResult): MinerVerdict[] {
  const byId = new Map(result.arms.map((a) => [a.armId, a]));
  const baselines = job.arms
    .filter((a) => isBaseline(a.role))
    .map((a) => byId.get(a.armId))
    .filter((r): r is ArmResult => r?.outcome === ArmOutcome.MEASURED && (r.summary?.wallS ?? 0) > 0)
    .map((r) => r.summary?.wallS ?? 0);
  const baselineWallS =
    baselines.length > 0 ? baselines.reduce((s, v) => s + v, 0) / baselines.length : Number.NaN;
  const baselineNoise =
    baselines.length > 1 ? (Math.max(...baselines) - Math.min(...baselines)) / baselineWallS : Number.NaN;
  return job.arms
    .filter((a) => !isBaseline(a.role))
    .map((arm) => {
      const r = byId.get(arm.armId);
      const wallS = r?.outcome === ArmOutcome.MEASURED ? (r.summary?.wallS ?? Number.NaN) : Number.NaN;
      const improvement = (baselineWallS - wallS) / baselineWallS;
      const disqualifications: string[] = [];
      if (!r || r.outcome !== ArmOutcome.MEASURED) {
        disqualifications.push(
          `${enumName(ArmOutcome, r?.outcome ?? 0)}: ${r?.reason || "not run"}${adviceFor(r?.outcome)}`,
        );
      }
      if (Number.isNaN(baselineWallS)) {
        disqualifications.push(
          "no baseline was measured, so speed cannot be judged: fix the baseline image first",
        );
      }
      if (r?.correctness && !r.correctness.passed) {
        disqualifications.push(
          `correctness failed on ${r.correctness.promptsFailed} of ${r.correctness.prompts} prompts` +
            `${r.correctness.promptsMissing ? ` (${r.correctness.promptsMissing} unjudgeable)` : ""}: ${r.correctness.reasons.join("; ")}`,
        );
      } else if (r?.outcome === ArmOutcome.MEASURED && !r.correctness) {
        disqualifications.push("correctness could not be judged (the opening baseline was not measured)");
      }
      return {
        armId: arm.armId,
        outcome: enumName(ArmOutcome, r?.outcome ?? 0),
        wallS,
        baselineWallS,
        improvement,
        baselineNoise,
        correct: r?.correctness?.passed ?? false,
        disqualifications,
      };
    });
}

function adviceFor(outcome: ArmOutcome | undefined): string {
  switch (outcome) {
    case ArmOutcome.PULL_FAILED:
      return " — push the image and pin the digest the registry reports; keep it under the size limit";
    case ArmOutcome.NEVER_READY:
      return " — serve GET /health with 200 on port 8000 within the start-up timeout, without network access";
    case ArmOutcome.CRASHED:
      return " — read the log excerpt; the container must keep serving under the memory and pid limits";
    case ArmOutcome.BROKEN_OUTPUT:
      return " — stream OpenAI chat chunks with logprobs and end with [DONE]";
    case ArmOutcome.GPU_FAULT:
      return " — the GPUs must be free (no process, memory released) once the container is removed";
    default:
      return "";
  }
}
