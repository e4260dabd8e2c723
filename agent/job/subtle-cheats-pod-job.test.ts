// Acceptance of issue 14: a pod job over the reference server images of the subtle cheats (built by
// scripts/build-sim-images, run in containers by the real Docker engine), judged by the agent and
// scored by the controller's policy: every cheat is refused with a named reason, the honest
// challenger is not.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
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

const root = join(import.meta.dirname, "..", "..");
const docker = new Docker({ socketPath: testServices().dockerSocket });
const mib = 1024 * 1024;
const cheats = [
  "truncate",
  "near-tie-junk-ids",
  "near-tie-junk-text",
  "near-tie-junk",
  "partial-replay",
  "precomputed-table",
  "canary-honest",
];

let result: JobResult;
let job: ReturnType<typeof makeJob>;
const byId = (id: string): ArmResult => {
  const arm = result.arms.find((a) => a.armId === id);
  if (!arm) throw new Error(`no arm ${id}`);
  return arm;
};

function makeJob(refs: Record<string, string>) {
  const arms = [
    { armId: "baseline-open", role: ArmRole.OPENING_BASELINE, name: "baseline" },
    { armId: "faster", role: ArmRole.CHALLENGER, name: "faster" },
    ...cheats.map((name) => ({ armId: name, role: ArmRole.CHALLENGER, name })),
    { armId: "baseline-close", role: ArmRole.CLOSING_BASELINE, name: "baseline" },
  ];
  return create(EvaluationJobSchema, {
    jobId: `test-subtle-cheats-${process.pid}`,
    roundSeed: "5eed14",
    hardwareProfile: "none",
    // A pool workload: its prompts repeat in every repetition (the repeat check's probes), and half
    // of them are in the precomputed table.
    workload: {
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
    },
    arms: arms.map((a) => ({ armId: a.armId, role: a.role, image: parseImageReference(refs[a.name] ?? "") })),
  });
}

beforeAll(async () => {
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  const refs = Object.fromEntries(
    ["baseline", "faster", ...cheats].map((n) => [n, manifest.images[n]?.reference ?? ""]),
  );
  job = makeJob(refs);
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
