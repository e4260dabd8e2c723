import { clone } from "@bufbuild/protobuf";
import { CacheonError } from "../errors/cacheon-error.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../gen/cacheon/v1/job_pb.ts";
import type { WorkloadPrompts } from "../gen/cacheon/v1/workload_pb.ts";
import { planWorkloadAsync } from "./plan-workload.ts";
import { promptKey } from "./prompt-key.ts";
import { workloadPromptsMessage } from "./workload-prompts-message.ts";

/** Whether a job's workload is generated per job (prompt_source "generated:..."). */
export function generatesPrompts(job: Pick<EvaluationJob, "workload">): boolean {
  return job.workload?.promptSource.startsWith("generated:") ?? false;
}

/**
 * The prompts of a job whose workload is generated: planned from promptKey(secret, the job's seed)
 * with the workload's counts and prompt size. The same job gives the same prompts every time, so
 * the controller stores none of them: it makes them when it sends the job and again when it
 * publishes the settled round (`cacheon-agent local` makes them with a secret of its own). Throws
 * "invalid-config" without a secret (fail closed: no secret, no prompts).
 */
export async function jobPrompts(
  job: EvaluationJob,
  secret: Uint8Array | undefined,
  signal?: AbortSignal,
): Promise<WorkloadPrompts> {
  const workload = job.workload;
  if (!workload) throw new CacheonError("invalid-argument", `job ${job.jobId} has no workload`);
  if (!secret) {
    throw new CacheonError(
      "invalid-config",
      `job ${job.jobId} needs generated prompts but rounds.validatorSecret is not set: make one with \`cacheon-controller config --new-secret\``,
    );
  }
  const plan = await planWorkloadAsync({
    key: promptKey(secret, job.roundSeed),
    requests: workload.requests,
    canaries: workload.canaryRequests,
    probes: workload.probePrompts,
    repetitions: Math.max(1, workload.repetitions),
    // A batch of fresh warm-up prompts for each batch the agent may send (warm-up until stable).
    warmup: workload.warmupRequests * Math.max(1, workload.warmupMaxBatches),
    targetTokens: workload.promptTokens,
    ...(signal ? { signal } : {}),
  });
  return workloadPromptsMessage(plan);
}

/** A copy of the job carrying its prompts, its prompt_source naming their generator and corpus. */
export async function withJobPrompts(
  job: EvaluationJob,
  secret: Uint8Array | undefined,
  signal?: AbortSignal,
): Promise<EvaluationJob> {
  const prompts = await jobPrompts(job, secret, signal);
  const out = clone(EvaluationJobSchema, job);
  out.prompts = prompts;
  if (out.workload) out.workload.promptSource = `generated:${prompts.generator}`;
  return out;
}
