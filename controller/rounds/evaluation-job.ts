import { create, fromJson } from "@bufbuild/protobuf";
import { type EvaluationJob, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { armLaunch, launchFacts } from "../../shared/launch/arm-launch.ts";
import { armRoleOf } from "./arm-measurements.ts";
import type { PlannedArm } from "./plan-jobs.ts";
import type { RoundSettings } from "./round-settings.ts";

/** What identifies one job beyond the round's settings. */
export interface EvaluationJobPlace {
  jobId: string;
  roundId: string;
  /** The job's seed (its prompts derive from it). */
  seed: string;
  /** The job's deadline, ms since the epoch. */
  deadlineMs: number;
  arms: readonly PlannedArm[];
}

/**
 * The EvaluationJob an agent runs for a planned job: the round settings' workload, hardware
 * profile, model directory, start-up allowances and launch recipe, each arm's image pinned by
 * digest (the baselines the settings' baseline image). The controller stores it for every job
 * attempt; `cacheon-miner evaluate` runs the very same job locally, so the two cannot drift. Pure.
 */
export function evaluationJob(settings: RoundSettings, place: EvaluationJobPlace): EvaluationJob {
  return create(EvaluationJobSchema, {
    jobId: place.jobId,
    roundId: place.roundId,
    roundSeed: place.seed,
    workload: fromJson(WorkloadSpecSchema, settings.workload),
    hardwareProfile: settings.hardwareProfile,
    modelDir: settings.modelDir,
    deadlineUnixMs: BigInt(place.deadlineMs),
    arms: place.arms.map((a) => ({
      armId: a.armId,
      role: armRoleOf[a.role],
      image: parseImageReference(a.subject ? a.subject.image : settings.baselineImage),
      hotkey: a.subject?.hotkey ?? "",
      submissionId: a.subject?.submissionId ?? "",
      startupTimeoutS: a.subject ? settings.challengerStartupS : settings.baselineStartupS,
      ...armLaunch(settings.launch, !a.subject, launchFacts(settings.workload)),
    })),
  });
}
