// The controller's baseline launch recipe end to end: the stock-vLLM recipe (shared/launch/
// arm-launch.ts) goes into the job's arms, the agent runs it, and a stand-in image that refuses to
// start unless it got vLLM's arguments and writable caches serves as the baseline of a pod job.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { type ArmLaunchSettings, armLaunch, defaultArmLaunch } from "../../shared/launch/arm-launch.ts";
import { readSimImageManifest } from "../../sim-llm/images/sim-image-manifest.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { buildVllmStandInImage } from "../containers/testing/vllm-stand-in-image.ts";
import { runPodJob } from "./run-pod-job.ts";

const root = join(import.meta.dirname, "..", "..");
const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const mib = 1024 * 1024;
const model = "Qwen/Qwen2.5-72B-Instruct";
const modelDir = mkdtempSync(join(tmpdir(), "cacheon-model-"));
let standIn: string;
let faster: string;

beforeAll(async () => {
  execFileSync(join(root, "scripts", "build-sim-images"), [], { stdio: "ignore" });
  const manifest = readSimImageManifest(join(root, ".cacheon", "sim-images.json"));
  const ref = (name: string) => manifest.images[name]?.reference ?? "";
  standIn = await buildVllmStandInImage(docker, ref("baseline"), services.registry);
  faster = ref("faster");
});

afterAll(() => rmSync(modelDir, { recursive: true, force: true }));

/** A job of baseline, challenger, baseline with the launch fields the controller would plan. */
function job(jobId: string, launch: ArmLaunchSettings) {
  const facts = { model, topLogprobs: 5 };
  const arm = (armId: string, role: ArmRole, image: string, baseline: boolean) => ({
    armId,
    role,
    image: parseImageReference(image),
    ...armLaunch(launch, baseline, facts),
  });
  return create(EvaluationJobSchema, {
    jobId,
    roundSeed: "5eed",
    hardwareProfile: "none",
    modelDir,
    workload: {
      promptSource: "bundled:cacheon-chat-v1",
      requests: 2,
      warmupRequests: 1,
      maxTokens: 16,
      topLogprobs: 5,
      requestTimeoutMs: 20_000,
      stallTimeoutMs: 10_000,
      repetitions: 1,
      promptChars: 400,
      model,
      arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
    },
    arms: [
      arm("b0", ArmRole.OPENING_BASELINE, standIn, true),
      arm("c1", ArmRole.CHALLENGER, faster, false),
      arm("b9", ArmRole.CLOSING_BASELINE, standIn, true),
    ],
  });
}

const options = {
  docker,
  limits: { memoryBytes: 512 * mib, cpus: 1, pidsLimit: 256, shmBytes: 64 * mib, nofile: 4096 },
  stopGraceS: 2,
  readyIntervalMs: 100,
  // The sim loads Qwen's real tokenizer before it listens: seconds on a busy machine, in a 1-CPU container.
  startupTimeoutS: { baseline: 60, challenger: 30 },
};

describe("the baseline's launch recipe", () => {
  it("starts the stock-vLLM stand-in as the baseline, with its arguments and writable caches, and a miner's image with its own", async () => {
    const jobId = `test-launch-${process.pid}`;
    const launch = { ...defaultArmLaunch, cacheDirBytes: 16 * mib };
    const result = await runPodJob(
      job(jobId, launch),
      { signal: new AbortController().signal, emit: () => {} },
      options,
    );
    const [b0, c1, b9] = result.arms;
    expect(result.completed).toBe(true);
    expect(b0?.outcome).toBe(ArmOutcome.MEASURED);
    expect(b0?.logExcerpt).toContain(
      `launched with --model /model --served-model-name ${model} --tensor-parallel-size 8 --port 8000 --max-logprobs 20; caches HOME=/cacheon/home XDG_CACHE_HOME=/cacheon/cache TRITON_CACHE_DIR=/cacheon/triton VLLM_CACHE_ROOT=/cacheon/vllm writable`,
    );
    expect(b9?.outcome).toBe(ArmOutcome.MEASURED);
    // The miner's sim image ran its own entrypoint; its outputs were scored by the closing
    // baseline's /tokenize and prompt logprobs.
    expect(c1?.outcome).toBe(ArmOutcome.MEASURED);
    expect(c1?.correctness?.passed).toBe(true);
    expect(c1?.correctness?.thresholds).toContain("teacher_forcing=done");
    expect(c1?.correctness?.promptsEvidence.every((e) => e.teacherForcedTokens === e.candidateTokens)).toBe(
      true,
    );
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });

  it("the control: without the recipe the stand-in refuses to start, as vLLM would, and says why", async () => {
    const jobId = `test-launch-bare-${process.pid}`;
    const launch = { ...defaultArmLaunch, baseline: "image" as const, cacheDirBytes: 16 * mib };
    const result = await runPodJob(
      job(jobId, launch),
      { signal: new AbortController().signal, emit: () => {} },
      options,
    );
    const b0 = result.arms[0];
    expect(b0?.outcome).toBe(ArmOutcome.NEVER_READY);
    expect(b0?.reason).toMatch(/exited with code 2 before it was ready/);
    expect(b0?.logExcerpt).toContain("error: --model must be /model");
    expect(b0?.logExcerpt).toContain("error: --generation-config vllm is missing");
    expect(result.reason).toMatch(/opening baseline was not measured/);
  });
});
