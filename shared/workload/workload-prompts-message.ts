import { create } from "@bufbuild/protobuf";
import { type WorkloadPrompts, WorkloadPromptsSchema } from "../gen/cacheon/v1/workload_pb.ts";
import type { WorkloadPlan } from "./plan-workload.ts";

/** A plan as the contract's WorkloadPrompts, for EvaluationJob.prompts. */
export function workloadPromptsMessage(plan: WorkloadPlan): WorkloadPrompts {
  return create(WorkloadPromptsSchema, {
    generator: plan.generator,
    targetTokens: plan.targetTokens,
    prompts: plan.prompts.map((p) => ({
      promptId: p.id,
      messages: p.messages.map((m) => ({ role: m.role, content: m.content })),
      promptTokens: p.promptTokens,
    })),
    warmupPromptIds: plan.warmup,
    repetitions: plan.repetitions.map((requests) => ({ requests })),
  });
}
