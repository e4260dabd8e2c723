// Acceptance of issue 14: a pod job over the reference server images of the subtle cheats (built by
// scripts/build-sim-images, run in containers by the real Docker engine), judged by the agent and
// scored by the controller's policy: every cheat is refused with a named reason, the honest
// challenger is not.
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { armMeasurements } from "../../controller/rounds/arm-measurements.ts";
import { scoreJob } from "../../controller/scoring/score-job.ts";
import { defaultScoringPolicy } from "../../controller/scoring/scoring-policy.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type ArmResult, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { subtleCheatModes } from "../../sim-llm/sim-llm-mode.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { runPodJob } from "./run-pod-job.ts";
import { armResult, poolWorkload, simImageJob } from "./testing/sim-image-job.ts";

const docker = new Docker({ socketPath: testServices().dockerSocket });
const mib = 1024 * 1024;
// Every subtle cheat has an image of the same name.
const cheats = [...subtleCheatModes];

let result: JobResult;
let job: EvaluationJob;
const byId = (id: string): ArmResult => armResult(result, id);

beforeAll(async () => {
  job = simImageJob({
    jobId: `test-subtle-cheats-${process.pid}`,
    roundSeed: "5eed14",
    challengers: ["faster", ...cheats],
    // A pool workload: its prompts repeat in every repetition (the repeat check's probes), and half
    // of them are in the precomputed table.
    workload: poolWorkload,
  });
  result = await runPodJob(
    job,
    { signal: new AbortController().signal, emit: () => {} },
    {
      docker,
      limits: { memoryBytes: 768 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
      stopGraceS: 2,
      readyIntervalMs: 100,
      startupTimeoutS: { baseline: 60, challenger: 30 },
    },
  );
}, 900_000);

/** The codes a verdict names. */
const codesOf = (arm: ArmResult) =>
  new Set(arm.correctness?.promptsEvidence.flatMap((e) => e.reasonCodes) ?? []);

describe("a pod job over the subtle cheats' images", () => {
  it("measures every arm; the bookends agree and calibrate; the honest challenger passes", () => {
    expect(result.completed, result.reason).toBe(true);
    for (const arm of result.arms)
      expect(arm.outcome, `${arm.armId}: ${arm.reason}`).toBe(ArmOutcome.MEASURED);
    const close = byId("baseline-close").correctness;
    expect(close?.passed, close?.reasons.join("\n")).toBe(true);
    expect(close?.thresholds.join("\n")).toMatch(/^calibrated maxTokenGap=/m);
    const faster = byId("faster");
    expect(faster.correctness?.passed, faster.correctness?.reasons.join("\n")).toBe(true);
    expect(faster.summary?.findings).toEqual([]);
    expect(faster.tokenK.length).toBeGreaterThan(0);
  });

  it("refuses each cheat with a named reason", () => {
    expect(codesOf(byId("truncate"))).toContain("premature-stop");
    expect(codesOf(byId("near-tie-junk-ids"))).toContain("unknown-token-id");
    expect(codesOf(byId("near-tie-junk-text"))).toContain("text-mismatch");
    expect(codesOf(byId("near-tie-junk"))).toContain("teacher-forced-rank");
    expect(byId("partial-replay").summary?.findings.join("\n")).toMatch(/^repeat-speedup: /m);
    expect(byId("precomputed-table").summary?.findings.join("\n")).toMatch(/^speed-outliers: /m);
    expect(byId("canary-honest").correctness?.passed).toBe(false);
    for (const id of [
      "truncate",
      "near-tie-junk-ids",
      "near-tie-junk-text",
      "near-tie-junk",
      "canary-honest",
    ]) {
      expect(byId(id).correctness?.passed, id).toBe(false);
      expect(byId(id).correctness?.noDecisionReason, id).toBe("");
    }
  });

  it("the controller's policy zeroes every cheat, naming why, and scores the honest one", () => {
    const score = scoreJob(armMeasurements(job, result), defaultScoringPolicy);
    expect(score.decision, score.reason).toBe("decided");
    expect(score.statistic).toBe("time-to-token-k");
    const arm = (id: string) => score.arms.find((a) => a.armId === id);
    expect(arm("faster")?.gate).toBe("pass");
    expect(arm("faster")?.speed).toBeGreaterThan(0);
    for (const id of cheats) {
      expect(arm(id)?.gate, id).toBe("fail");
      expect(arm(id)?.speed, id).toBe(0);
    }
    expect(arm("truncate")?.reason).toMatch(/correctness gate failed: .*premature-stop/);
    expect(arm("partial-replay")?.reason).toMatch(/flagged by the agent: .*repeat-speedup: /);
    expect(arm("precomputed-table")?.reason).toMatch(/flagged by the agent: .*speed-outliers: /);
  });

  it("leaves no container or network behind", async () => {
    expect(await removeJobObjects({ docker, jobId: job.jobId })).toEqual({ containers: 0, networks: 0 });
  });
});
