import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ArmRole, type EvaluationJob, EvaluationJobSchema } from "../../../shared/gen/cacheon/v1/job_pb.ts";
import type { ArmResult, JobResult } from "../../../shared/gen/cacheon/v1/result_pb.ts";
import type { WorkloadSpecSchema } from "../../../shared/gen/cacheon/v1/workload_pb.ts";
import { parseImageReference } from "../../../shared/image/image-reference.ts";
import { readSimImageManifest } from "../../../sim-llm/images/sim-image-manifest.ts";

const root = join(import.meta.dirname, "..", "..", "..");

/** Options of {@link simImageJob}. */
export interface SimImageJobOptions {
  jobId: string;
  roundSeed: string;
  /** Sim images (names in sim-llm/images/sim-image-catalog.ts) run as challengers, in order; each arm id is its name. */
  challengers: readonly string[];
  workload: MessageInitShape<typeof WorkloadSpecSchema>;
}

/**
 * A job over the reference server images, bookended by the baseline image ("baseline-open",
 * "baseline-close"): builds the images (or finds them up to date, fast) and pins each by the digest
 * the local registry holds.
 */
export function simImageJob(options: SimImageJobOptions): EvaluationJob {
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  const ref = (name: string) => parseImageReference(manifest.images[name]?.reference ?? "");
  return create(EvaluationJobSchema, {
    jobId: options.jobId,
    roundSeed: options.roundSeed,
    hardwareProfile: "none",
    workload: options.workload,
    arms: [
      { armId: "baseline-open", role: ArmRole.OPENING_BASELINE, image: ref("baseline") },
      ...options.challengers.map((name) => ({ armId: name, role: ArmRole.CHALLENGER, image: ref(name) })),
      { armId: "baseline-close", role: ArmRole.CLOSING_BASELINE, image: ref("baseline") },
    ],
  });
}

/** The result of one arm; throws naming it when the job has none. */
export function armResult(result: JobResult, armId: string): ArmResult {
  const arm = result.arms.find((a) => a.armId === armId);
  if (!arm) throw new Error(`no arm ${armId} in the job's result`);
  return arm;
}
