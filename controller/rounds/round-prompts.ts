import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { WorkloadPrompts } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { generatesPrompts, jobPrompts } from "../../shared/workload/job-prompts.ts";
import { parsePromptSecret } from "../../shared/workload/prompt-key.ts";

/**
 * The prompt secret of rounds.validatorSecret, or undefined when it is empty (then generated jobs
 * fail closed in {@link jobPrompts}). Throws "invalid-config" for a secret under 128 bits or not hex.
 */
export function roundPromptSecret(validatorSecret: string): Uint8Array | undefined {
  return validatorSecret ? parsePromptSecret(validatorSecret, "rounds.validatorSecret") : undefined;
}

/**
 * The prompts of a settled job for publication, made again from the secret; undefined for a job
 * whose workload is not generated.
 */
export function publishedJobPrompts(
  validatorSecret: string,
): (job: EvaluationJob) => Promise<WorkloadPrompts | undefined> {
  return async (job) =>
    generatesPrompts(job) ? jobPrompts(job, roundPromptSecret(validatorSecret)) : undefined;
}
