// Acceptance: a pod job over the reference server images (sim-llm, built offline and pushed to the
// local registry by scripts/build-sim-images) with the real Docker engine.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type ArmResult, type JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { readSimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { minerVerdicts } from "./miner-verdict.ts";
import { runPodJob } from "./run-pod-job.ts";
import { simJobOptions, simJobWorkload } from "./testing/sim-job.ts";

const root = join(import.meta.dirname, "..", "..");
const docker = new Docker({ socketPath: testServices().dockerSocket });
const names = [
  "baseline",
  "faster",
  "slow",
  "wrong-model",
  "crashing",
  "never-ready",
  "stream-buffering",
  "cache-cheating",
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
    ...names.slice(1).map((name) => ({ armId: name, role: ArmRole.CHALLENGER, name })),
    { armId: "baseline-close", role: ArmRole.CLOSING_BASELINE, name: "baseline" },
  ];
  return create(EvaluationJobSchema, {
    jobId: `test-sim-job-${process.pid}`,
    roundSeed: "5eed",
    hardwareProfile: "none",
    workload: simJobWorkload,
    arms: arms.map((a) => ({ armId: a.armId, role: a.role, image: parseImageReference(refs[a.name] ?? "") })),
  });
}

beforeAll(async () => {
  // Builds (or finds up to date) the sim images and their manifest; fast when nothing changed.
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  const refs = Object.fromEntries(names.map((n) => [n, manifest.images[n]?.reference ?? ""]));
  job = makeJob(refs);
  result = await runPodJob(
    job,
    { signal: new AbortController().signal, emit: () => {} },
    simJobOptions(docker),
  );
}, 600_000);

describe("a pod job over the reference server images", () => {
  it("completes and measures the baselines and the honest challengers", () => {
    expect(result.completed, result.reason).toBe(true);
    for (const id of ["baseline-open", "faster", "slow", "baseline-close"]) {
      expect(byId(id).outcome, `${id}: ${byId(id).reason}`).toBe(ArmOutcome.MEASURED);
    }
    expect(byId("faster").correctness?.passed).toBe(true);
    expect(byId("slow").correctness?.passed).toBe(true);
  });

  it("ranks the honest ones by speed: faster, then the baseline, then slow", () => {
    const wall = (id: string) => byId(id).summary?.wallS ?? Number.NaN;
    const baseline = (wall("baseline-open") + wall("baseline-close")) / 2;
    expect(wall("faster")).toBeLessThan(baseline);
    expect(wall("slow")).toBeGreaterThan(baseline);
    const verdicts = minerVerdicts(job, result);
    const faster = verdicts.find((v) => v.armId === "faster");
    expect(faster?.improvement).toBeGreaterThan(0);
    expect(faster?.disqualifications).toEqual([]);
  });

  it("scores every measured arm's outputs by teacher forcing on the closing baseline", () => {
    for (const id of [
      "faster",
      "slow",
      "wrong-model",
      "stream-buffering",
      "cache-cheating",
      "baseline-close",
    ]) {
      const correctness = byId(id).correctness;
      const outputs = correctness?.promptsEvidence.length ?? 0;
      expect(outputs, id).toBe(6);
      expect(correctness?.thresholds, id).toContain("teacher_forcing=done");
      for (const e of correctness?.promptsEvidence ?? []) {
        // Every token of every output, not a prefix.
        expect(e.teacherForcedTokens, `${id} ${e.requestIndex}`).toBe(e.candidateTokens);
        expect(Number.isFinite(e.teacherForcedMeanLogprob), `${id} ${e.requestIndex}`).toBe(true);
        expect(e.teacherForcedMeanLogprob).toBeLessThanOrEqual(0);
      }
    }
    // An honest server's output is as likely under the reference model as the reference's own.
    for (const e of byId("faster").correctness?.promptsEvidence ?? []) {
      expect(Math.abs(e.teacherForcedMeanLogprob - e.referenceMeanLogprob)).toBeLessThan(0.5);
    }
  });

  it("names each failure", () => {
    const wrong = byId("wrong-model");
    expect(wrong.outcome).toBe(ArmOutcome.MEASURED);
    expect(wrong.correctness?.passed).toBe(false);
    expect(wrong.correctness?.reasons.join("\n")).toMatch(/^teacher-forced-mean \(.*\): \d+ outputs?/m);
    expect(byId("crashing").outcome, byId("crashing").reason).toBe(ArmOutcome.CRASHED);
    expect(byId("crashing").reason).toMatch(/exited with code/);
    expect(byId("never-ready").outcome).toBe(ArmOutcome.NEVER_READY);
    expect(byId("never-ready").reason).toMatch(/\/health answered 503/);
    const cache = byId("cache-cheating");
    expect(cache.summary?.findings.join(" ")).toMatch(/cached/);
    const buffering = byId("stream-buffering");
    // Speed is the time to each token: a buffered stream's tokens all count at the burst, so holding
    // them back gains nothing (its time to token k is its time to the last token).
    expect(buffering.outcome).toBe(ArmOutcome.MEASURED);
    expect(buffering.tokenK.length).toBe(6);
    const faster = byId("faster").tokenK;
    const ratio = (t: { armMs: number; openingMs: number }) => t.openingMs / t.armMs;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    expect(median(buffering.tokenK.map(ratio))).toBeLessThan(median(faster.map(ratio)) + 0.02);
  });

  it("leaves no container or network behind", async () => {
    expect(await removeJobObjects({ docker, jobId: job.jobId })).toEqual({ containers: 0, networks: 0 });
  });
});
