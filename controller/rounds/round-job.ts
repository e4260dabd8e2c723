import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { formatImageReference } from "../../shared/image/image-reference.ts";
import type { ArmRoleName, JobScore } from "../scoring/score-job.ts";
import type { JobRow, JobState } from "../store/job-table.ts";
import { armRoleOf } from "./arm-measurements.ts";
import type { PlannedArm } from "./plan-jobs.ts";

/**
 * One attempt of a round's job as the round engine sees it: plain data, the arms decoded from
 * the stored EvaluationJob. Tests of the engine build these directly.
 */
export interface RoundJob {
  id: string;
  phase: JobRow["phase"];
  /** The planned job this attempt belongs to; retries share it. */
  slot: string;
  attempt: number;
  seed: string;
  state: JobState;
  podId: string | null;
  /** Pods the attempt must not run on. */
  excludedPods: string[];
  /**
   * Pods whose host, GPUs (and provider, when several are configured) the attempt must not
   * share: those that measured its challengers before (see isIndependent).
   */
  independentOf: string[];
  arms: PlannedArm[];
  /** JobScore.decision once scored. */
  decision: string | null;
  score: JobScore | null;
}

/** The engine's view of a stored job attempt. */
export function roundJobOf(row: JobRow): RoundJob {
  const evaluation = fromJson(EvaluationJobSchema, row.job as JsonValue);
  return {
    id: row.id,
    phase: row.phase,
    slot: row.slot,
    attempt: row.attempt,
    seed: row.seed,
    state: row.state,
    podId: row.podId,
    excludedPods: row.excludedPods,
    independentOf: row.independentOf,
    arms: evaluation.arms.map((a) => ({
      armId: a.armId,
      role: roleName(a.role),
      subject:
        a.submissionId && a.image
          ? { submissionId: a.submissionId, hotkey: a.hotkey, image: formatImageReference(a.image) }
          : undefined,
    })),
    decision: row.decision,
    score: row.score as JobScore | null,
  };
}

function roleName(role: number): ArmRoleName {
  const entry = Object.entries(armRoleOf).find(([, v]) => v === role);
  return (entry?.[0] ?? "challenger") as ArmRoleName;
}
