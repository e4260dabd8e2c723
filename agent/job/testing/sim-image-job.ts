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

/**
 * A small pool workload for sim-image jobs: its prompts repeat in every repetition (the repeat
 * check's probes), and half of them are in the precomputed-table cheat's table.
 */
export const poolWorkload: MessageInitShape<typeof WorkloadSpecSchema> = {
  promptSource: "bundled:cacheon-chat-v1",
  requests: 6,
  warmupRequests: 1,
  maxTokens: 48,
  topLogprobs: 5,
  requestTimeoutMs: 30_000,
  stallTimeoutMs: 15_000,
  repetitions: 3,
  promptChars: 1500,
  model: "Qwen/Qwen2.5-72B-Instruct",
  arrival: { process: { case: "closedLoop", value: { concurrency: 3 } } },
};

/** The result of one arm; throws naming it when the job has none. */
export function armResult(result: JobResult, armId: string): ArmResult {
  const arm = result.arms.find((a) => a.armId === armId);
  if (!arm) throw new Error(`no arm ${armId} in the job's result`);
  return arm;
}
