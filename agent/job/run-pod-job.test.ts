import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Arm, ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { buildHostileImage } from "../containers/testing/hostile-image.ts";
import { pushTestImage } from "../containers/testing/node-test-image.ts";
import type { JobEventPayload } from "./job-executor.ts";
import type { PodJobOptions } from "./pod-job-options.ts";
import { runPodJob } from "./run-pod-job.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const mib = 1024 * 1024;
let hostileRef: string;
let crashingRef: string;
let neverReadyRef: string;

async function pushed(mode?: string): Promise<string> {
  const local = await buildHostileImage(docker, mode);
  return pushTestImage(docker, local, `${services.registry}/cacheon-test/hostile:${local.split(":")[1]}`);
}

beforeAll(async () => {
  hostileRef = await pushed();
  crashingRef = await pushed("never-ready,crash");
  neverReadyRef = await pushed("never-ready");
});

afterAll(async () => {
  for (const ref of [hostileRef, crashingRef, neverReadyRef]) {
    await docker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => {});
  }
});

const options = (): PodJobOptions => ({
  docker,
  limits: {
    memoryBytes: 256 * mib,
    cpus: 1,
    pidsLimit: 64,
    shmBytes: 16 * mib,
    nofile: 4096,
    tmpBytes: 8 * mib,
  },
  stopGraceS: 1,
  readyIntervalMs: 100,
  startupTimeoutS: { baseline: 20, challenger: 3 },
});

/** An arm of the given image. */
function arm(armId: string, role: ArmRole, ref: string): Arm {
  const image = parseImageReference(ref);
  return {
    $typeName: "cacheon.v1.Arm",
    armId,
    role,
    image: { $typeName: "cacheon.v1.ImageReference", ...image },
    hotkey: "",
    startupTimeoutS: 0,
    submissionId: "",
  };
}

function job(jobId: string, arms: Arm[]) {
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
      repetitions: 2,
      model: "hostile",
      arrival: { process: { case: "closedLoop", value: { concurrency: 1 } } },
    },
    arms,
  });
}

describe("runPodJob with the real engine and registry", () => {
  it("runs arms in order, ends each failure with a reason and goes on, and cleans up", async () => {
    const jobId = `test-job-${process.pid}-a`;
    const events: JobEventPayload[] = [];
    const missing = `${services.registry}/cacheon-test/hostile@sha256:${"4".repeat(64)}`;
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, hostileRef),
        arm("c1", ArmRole.CHALLENGER, missing),
        arm("c2", ArmRole.CHALLENGER, hostileRef),
        arm("c3", ArmRole.CHALLENGER, crashingRef),
        arm("c4", ArmRole.CHALLENGER, neverReadyRef),
        arm("b9", ArmRole.CLOSING_BASELINE, hostileRef),
      ]),
      { signal: new AbortController().signal, emit: (e) => events.push(e) },
      options(),
    );
    expect(result.completed).toBe(true);
    expect(result.networkMode).toBe("internal");
    expect(result.hardware?.ok).toBe(true);
    expect(result.arms.map((a) => a.armId)).toEqual(["b0", "c1", "c2", "c3", "c4", "b9"]);
    const [b0, c1, c2, c3, c4, b9] = result.arms;
    expect(b0?.outcome).toBe(ArmOutcome.MEASURED);
    expect(b0?.summary?.requests).toBe(4);
    expect(b0?.summary?.repetitionWallS).toHaveLength(2);
    expect(b0?.image?.repoDigests).toContain(hostileRef);
    expect(b0?.startupS).toBeGreaterThan(0);
    expect(b0?.logExcerpt).toContain("hostile server on 8000");
    expect(b0?.correctness).toBeUndefined();
    expect(c1?.outcome).toBe(ArmOutcome.PULL_FAILED);
    expect(c1?.reason).toMatch(/not found|manifest unknown/i);
    expect(c2?.outcome).toBe(ArmOutcome.MEASURED);
    expect(c2?.correctness?.prompts).toBe(4);
    expect(c3?.outcome).toBe(ArmOutcome.NEVER_READY);
    expect(c3?.reason).toMatch(/exited with code 3 before it was ready/);
    expect(c3?.exitCode).toBe(3);
    expect(c3?.logExcerpt).toContain("crashing on purpose");
    expect(c4?.outcome).toBe(ArmOutcome.NEVER_READY);
    expect(c4?.reason).toMatch(/not ready after 3\.0 s .*\/health answered 503/);
    expect(c4?.exitCode).toBe(-1);
    expect(b9?.outcome).toBe(ArmOutcome.MEASURED);
    // Events: progress, per-request metrics, one arm-finished per arm, container logs.
    expect(events.filter((e) => e.case === "armFinished").map((e) => e.value.result?.armId)).toEqual([
      "b0",
      "c1",
      "c2",
      "c3",
      "c4",
      "b9",
    ]);
    expect(events.filter((e) => e.case === "metrics")).toHaveLength(12);
    expect(events.some((e) => e.case === "log" && e.value.armId === "c2")).toBe(true);
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });

  it("pulls an image again when it vanished between its pull and its arm", async () => {
    const jobId = `test-job-${process.pid}-vanish`;
    let gates = 0;
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, hostileRef),
        arm("b9", ArmRole.CLOSING_BASELINE, hostileRef),
      ]),
      { signal: new AbortController().signal, emit: () => {} },
      {
        ...options(),
        waitForGpuIdle: async () => {
          // Before the closing baseline: the image both arms share is removed behind the job's back.
          if (++gates === 2) {
            const { Id } = await docker.getImage(hostileRef).inspect();
            await docker.getImage(Id).remove({ force: true });
          }
        },
      },
    );
    expect(gates).toBe(2);
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.MEASURED, ArmOutcome.MEASURED]);
    expect(result.arms[1]?.image?.pullSeconds).toBeGreaterThan(0);
  });

  it("refuses an invalid job without touching the engine", async () => {
    const bad = job("", [
      arm("c1", ArmRole.CHALLENGER, hostileRef),
      arm("c1", ArmRole.CHALLENGER, hostileRef),
    ]);
    const result = await runPodJob(bad, { signal: new AbortController().signal, emit: () => {} }, options());
    expect(result.completed).toBe(false);
    expect(result.reason).toMatch(/job_id is empty/);
    expect(result.reason).toMatch(/used twice/);
    expect(result.reason).toMatch(/first arm must be the opening baseline/);
  });

  it("fails the job before any pull when the hardware profile is not met", async () => {
    const j = job(`test-job-${process.pid}-hw`, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
    j.hardwareProfile = "h200x8";
    const result = await runPodJob(j, { signal: new AbortController().signal, emit: () => {} }, options());
    expect(result.completed).toBe(false);
    expect(result.reason).toMatch(/^hardware verification failed/);
    expect(result.arms).toHaveLength(1);
    expect(result.arms[0]?.outcome).toBe(ArmOutcome.UNSPECIFIED);
  });

  it("stops on cancel, marks the unfinished arms cancelled and removes everything", async () => {
    const jobId = `test-job-${process.pid}-cancel`;
    const controller = new AbortController();
    const events: JobEventPayload[] = [];
    const running = runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, hostileRef),
        arm("c1", ArmRole.CHALLENGER, hostileRef),
      ]),
      {
        signal: controller.signal,
        emit: (e) => {
          events.push(e);
          if (e.case === "progress" && e.value.phase === "measure")
            controller.abort(new Error("operator said stop"));
        },
      },
      {
        ...options(),
        measure: async ({ signal }) => {
          await new Promise((_, reject) => {
            if (signal.aborted) reject(signal.reason);
            signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          });
          throw new Error("unreachable");
        },
      },
    );
    const result = await running;
    expect(result.completed).toBe(false);
    expect(result.reason).toBe("cancelled: operator said stop");
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.CANCELLED, ArmOutcome.CANCELLED]);
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });
});
