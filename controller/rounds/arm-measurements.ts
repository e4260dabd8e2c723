import { ArmRole, type EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { ArmMeasurement, ArmOutcomeName, ArmRoleName } from "../scoring/score-job.ts";

const roleNames: Record<number, ArmRoleName> = {
  [ArmRole.OPENING_BASELINE]: "opening-baseline",
  [ArmRole.LEADER]: "leader",
  [ArmRole.RUNNER_UP]: "runner-up",
  [ArmRole.CHALLENGER]: "challenger",
  [ArmRole.CLOSING_BASELINE]: "closing-baseline",
  [ArmRole.INTERIM_BASELINE]: "interim-baseline",
};

/** The contract's role for a role name. */
export const armRoleOf: Record<ArmRoleName, ArmRole> = {
  "opening-baseline": ArmRole.OPENING_BASELINE,
  leader: ArmRole.LEADER,
  "runner-up": ArmRole.RUNNER_UP,
  challenger: ArmRole.CHALLENGER,
  "closing-baseline": ArmRole.CLOSING_BASELINE,
  "interim-baseline": ArmRole.INTERIM_BASELINE,
};

const outcomeNames: Record<number, ArmOutcomeName> = {
  [ArmOutcome.MEASURED]: "measured",
  [ArmOutcome.PULL_FAILED]: "pull-failed",
  [ArmOutcome.NEVER_READY]: "never-ready",
  [ArmOutcome.CRASHED]: "crashed",
  [ArmOutcome.BROKEN_OUTPUT]: "broken-output",
  [ArmOutcome.CANCELLED]: "cancelled",
  [ArmOutcome.GPU_FAULT]: "gpu-fault",
};

/**
 * The policy's view of a job's result: one measurement per arm the controller planned, in the
 * job's order. The job (what the controller sent) decides roles and submissions, never the
 * agent's report; an arm the agent did not report counts as cancelled.
 */
export function armMeasurements(job: EvaluationJob, result: JobResult): ArmMeasurement[] {
  return job.arms.map((arm) => {
    const r = result.arms.find((a) => a.armId === arm.armId);
    const summary = r?.summary;
    const outcome = r ? (outcomeNames[r.outcome] ?? "unspecified") : "cancelled";
    return {
      armId: arm.armId,
      role: roleNames[arm.role] ?? "challenger",
      submissionId: arm.submissionId,
      outcome,
      reason: r
        ? r.reason
        : `the agent reported no result for arm ${arm.armId}${result.reason ? ` (${result.reason})` : ""}`,
      wallS: summary?.wallS ?? 0,
      wallCv: summary?.wallCv ?? 0,
      repetitions: summary?.repetitionWallS.length || 1,
      requests: summary?.requests ?? 0,
      failedRequests: summary?.failed ?? 0,
      correctnessPassed: r?.correctness ? r.correctness.passed : undefined,
      correctnessReasons: r?.correctness ? [...r.correctness.reasons] : [],
      findings: summary ? [...summary.findings] : [],
      tokenK: r?.tokenK ?? [],
      noDecisionReason: r?.correctness?.noDecisionReason || undefined,
    };
  });
}
