import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { tokenKTimings } from "../bench/token-k-timings.ts";
import { bracketingBaselines } from "./bracketing-baselines.ts";
import type { ArmRun } from "./run-arm.ts";

/**
 * Fills every measured arm's times to token k against the baselines just before and after it (the
 * two bookends, or in an interleaved job the baselines around the arm's block); a baseline after
 * the first is timed against the one before it, closing that block. Speed is scored on them; an
 * arm without a measured baseline on both sides gets none.
 */
export function jobTimeToTokenK(runs: ReadonlyMap<string, ArmRun>, job: EvaluationJob): void {
  const measured = (i: number) => {
    const run = runs.get(job.arms[i]?.armId ?? "");
    return run?.result.outcome === ArmOutcome.MEASURED ? run.measurement : undefined;
  };
  const brackets = bracketingBaselines(job.arms.map((a) => a.role));
  for (const [i, arm] of job.arms.entries()) {
    const run = runs.get(arm.armId);
    const own = measured(i);
    const bracket = brackets[i];
    const opening = bracket ? measured(bracket.opening) : undefined;
    const closing = bracket ? measured(bracket.closing) : undefined;
    if (!run || !own || !opening || !closing) continue;
    run.result.tokenK = tokenKTimings({
      arm: own.outputs,
      opening: opening.outputs,
      closing: closing.outputs,
    });
  }
}
