import { promptGeneratorName } from "../../shared/workload/prompt-generator-name.ts";

/**
 * The workload every arm is measured with (cacheon.v1.WorkloadSpec in protobuf JSON form) from the
 * configuration's `workload.*` values: what the controller puts in every job, and what
 * `cacheon-agent local` starts from, so the two cannot drift apart. Pure; checks nothing (the
 * controller's settings resolution checks the values).
 */
export function workloadOf(v: <T>(key: string) => T) {
  const promptSource = v<string>("workload.promptSource");
  const generated = promptSource === "generated";
  return {
    promptSource: generated ? `generated:${promptGeneratorName}` : promptSource,
    promptTokens: generated ? v<number>("workload.promptTokens") : 0,
    canaryRequests: generated ? v<number>("workload.canaryRequests") : 0,
    probePrompts: generated ? v<number>("workload.probePrompts") : 0,
    model: v<string>("workload.model"),
    requests: v<number>("workload.requests"),
    warmupRequests: v<number>("workload.warmupRequests"),
    warmupMaxBatches: v<number>("workload.warmupMaxBatches"),
    warmupTolerance: v<number>("workload.warmupTolerance"),
    maxTokens: v<number>("workload.maxTokens"),
    topLogprobs: v<number>("workload.topLogprobs"),
    repetitions: v<number>("workload.repetitions"),
    requestTimeoutMs: v<number>("workload.requestTimeoutMs"),
    arrival: { closedLoop: { concurrency: v<number>("workload.concurrency") } },
  };
}
