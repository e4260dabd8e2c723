// Acceptance: an interleaved pod job (B F B F B) over the reference server images with the real
// Docker engine: the agent runs the arms in the job's order, warms each up until stable, and
// times every arm against the baselines around its block; the controller's scorer reads it block
// by block.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armMeasurements } from "../../controller/rounds/arm-measurements.ts";
import { scoreJob } from "../../controller/scoring/score-job.ts";
import { defaultScoringPolicy } from "../../controller/scoring/scoring-policy.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type ArmResult, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { readSimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { runPodJob } from "./run-pod-job.ts";
import { simJobOptions, simJobWorkload } from "./testing/sim-job.ts";

const root = join(import.meta.dirname, "..", "..");
const docker = new Docker({ socketPath: testServices().dockerSocket });
const jobId = `test-interleaved-job-${process.pid}`;
const order = [
  { armId: "b0", role: ArmRole.OPENING_BASELINE, name: "baseline" },
  { armId: "f1", role: ArmRole.CHALLENGER, name: "faster" },
  { armId: "b2", role: ArmRole.INTERIM_BASELINE, name: "baseline" },
  { armId: "f3", role: ArmRole.CHALLENGER, name: "faster" },
  { armId: "b4", role: ArmRole.CLOSING_BASELINE, name: "baseline" },
];

let result: JobResult;
let job: ReturnType<typeof create<typeof EvaluationJobSchema>>;
const byId = (id: string): ArmResult => {
  const arm = result.arms.find((a) => a.armId === id);
  if (!arm) throw new Error(`no arm ${id}`);
  return arm;
};

beforeAll(async () => {
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  job = create(EvaluationJobSchema, {
    jobId,
    roundSeed: "5eed",
    hardwareProfile: "none",
    // Until two batches agree within 100% (any two that produced tokens): exactly two batches.
    workload: { ...simJobWorkload, warmupMaxBatches: 3, warmupTolerance: 1 },
    arms: order.map((a) => ({
      armId: a.armId,
      role: a.role,
      image: parseImageReference(manifest.images[a.name]?.reference ?? ""),
    })),
  });
  result = await runPodJob(
    job,
    { signal: new AbortController().signal, emit: () => {} },
    simJobOptions(docker),
  );
}, 600_000);

afterAll(async () => {
  await removeJobObjects({ docker, jobId });
});

describe("an interleaved pod job", () => {
  it("runs every arm in the job's order, the same image twice, and warms each up until stable", () => {
    expect(result.completed, result.reason).toBe(true);
    expect(result.arms.map((a) => a.armId)).toEqual(order.map((a) => a.armId));
    for (const a of order) {
      expect(byId(a.armId).outcome, `${a.armId}: ${byId(a.armId).reason}`).toBe(ArmOutcome.MEASURED);
      expect(byId(a.armId).summary?.warmupBatchS).toHaveLength(2);
      expect(byId(a.armId).summary?.warmupStable).toBe(true);
    }
    expect(byId("f1").correctness?.passed).toBe(true);
    expect(byId("f3").correctness?.passed).toBe(true);
  });

  it("times each arm against the baselines around its block; the interim one closes the first block", () => {
    const firstMs = (id: string) => byId(id).tokenK[0];
    expect(byId("b0").tokenK).toHaveLength(0);
    expect(firstMs("f1")?.closingMs).toBe(firstMs("b2")?.armMs);
    expect(firstMs("b2")?.closingMs).toBe(firstMs("b2")?.armMs);
    expect(firstMs("f3")?.openingMs).toBe(firstMs("b2")?.armMs);
    expect(firstMs("f3")?.closingMs).toBe(firstMs("b4")?.armMs);
  });

  it("is scored block by block, the faster image ahead of the baseline in both", () => {
    const score = scoreJob(armMeasurements(job, result), defaultScoringPolicy);
    expect(score.decision, score.reason).toBe("decided");
    expect(score.blocks).toHaveLength(2);
    for (const block of score.blocks ?? []) {
      const faster = block.arms.find((a) => a.role === "challenger");
      expect(faster?.speed).toBeGreaterThan(1);
    }
  });
});
