import type { MessageInitShape } from "@bufbuild/protobuf";
import type Docker from "dockerode";
import type { WorkloadSpecSchema } from "../../../shared/gen/cacheon/v1/workload_pb.ts";
import type { PodJobOptions } from "../pod-job-options.ts";

const mib = 1024 * 1024;

/**
 * The workload of a small pod job over the sim images (scripts/build-sim-images): three 24-token
 * requests after one warm-up request, two repetitions, closed loop.
 */
export const simJobWorkload = {
  promptSource: "bundled:cacheon-chat-v1",
  requests: 3,
  warmupRequests: 1,
  maxTokens: 24,
  topLogprobs: 5,
  requestTimeoutMs: 20_000,
  stallTimeoutMs: 10_000,
  repetitions: 2,
  promptChars: 600,
  model: "Qwen/Qwen2.5-72B-Instruct",
  arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
} satisfies MessageInitShape<typeof WorkloadSpecSchema>;

/**
 * Pod job options for the sim images on the real engine: small limits, quick readiness polls. The
 * sim loads Qwen's real tokenizer before it listens: seconds in a 1-CPU container on a busy machine.
 */
export function simJobOptions(docker: Docker, challengerStartupS = 30): PodJobOptions {
  return {
    docker,
    limits: { memoryBytes: 512 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
    stopGraceS: 2,
    readyIntervalMs: 100,
    startupTimeoutS: { baseline: 60, challenger: challengerStartupS },
  };
}
