/**
 * A generated workload small enough for tests (WorkloadSpec in protobuf JSON form): 200-token
 * prompts, 1 warm-up, 2 repetitions of 3 scored + 1 canary + 1 probe, 10 distinct prompts.
 */
export const smallGeneratedWorkload = {
  promptSource: "generated:cacheon-gen-v1",
  promptTokens: 200,
  requests: 3,
  canaryRequests: 1,
  probePrompts: 1,
  warmupRequests: 1,
  repetitions: 2,
  maxTokens: 16,
};
