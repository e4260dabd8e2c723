import { create } from "@bufbuild/protobuf";
import {
  type Arm,
  type ArmRole,
  ArmSchema,
  EvaluationJobSchema,
} from "../../../shared/gen/cacheon/v1/job_pb.ts";
import { parseImageReference } from "../../../shared/image/image-reference.ts";

/** An arm of the given image (repo@sha256:...). */
export function testArm(armId: string, role: ArmRole, ref: string): Arm {
  return create(ArmSchema, { armId, role, image: parseImageReference(ref) });
}

/**
 * A small job for the hostile test server (agent/containers/testing/hostile-server.ts): profile
 * "none", two 4-token requests after one warm-up, closed loop, `repetitions` timed passes.
 */
export function hostileJob(jobId: string, arms: Arm[], repetitions = 1) {
  return create(EvaluationJobSchema, {
    jobId,
    roundId: "r1",
    roundSeed: "ab12",
    hardwareProfile: "none",
    workload: {
      promptSource: "bundled:cacheon-chat-v1",
      requests: 2,
      warmupRequests: 1,
      maxTokens: 4,
      topLogprobs: 0,
      requestTimeoutMs: 5000,
      stallTimeoutMs: 5000,
      repetitions,
      model: "hostile",
      arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
    },
    arms,
  });
}
