import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Arm, ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { parseImageReference } from "../../shared/image/image-reference.ts";
import { testServices } from "../../test/support/services.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { findPulledImage } from "../containers/pull-image.ts";
import { buildHostileImage } from "../containers/testing/hostile-image.ts";
import { pushTestImage } from "../containers/testing/node-test-image.ts";
import type { JobEventPayload } from "./job-executor.ts";
import type { PodJobOptions } from "./pod-job-options.ts";
import { runPodJob } from "./run-pod-job.ts";
import { hostileJob, testArm } from "./testing/hostile-job.ts";

const services = testServices();
const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-pod-job-"));
/** A clean environment in which nvidia-smi-replay answers from one capture folder. */
const replayEnv = (folder: string) => ({
  PATH: process.env.PATH,
  NVSMI_FIXTURE_DIR: join(fixtures, folder),
  // The replay is a script, which the probe refuses unless told; the report then says so.
  CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
});
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
  rmSync(tmp, { recursive: true, force: true });
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

const arm = testArm;
const job = (jobId: string, arms: Arm[]) => hostileJob(jobId, arms, 2);

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
    // This test server streams no logprobs (the workload asks for none): nothing can be checked, so
    // the bookends cannot pass against each other and the verdict is no decision, never a pass.
    expect(c2?.correctness?.passed).toBe(false);
    expect(c2?.correctness?.noDecisionReason).toMatch(/the baseline bookends do not pass against each other/);
    expect(c2?.correctness?.reasons.join("\n")).toMatch(/^no-logprobs/m);
    const live = events.find((e) => e.case === "armFinished" && e.value.result?.armId === "c2");
    expect(live?.case === "armFinished" && live.value.result?.correctness?.thresholds).toContain(
      "teacher_forcing=pending",
    );
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
            const id = await findPulledImage(docker, parseImageReference(hostileRef));
            await docker.getImage(id ?? hostileRef).remove({ force: true });
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

  it("fails an h200x8 job on the 2x H200 capture for the GPU count, before any image is pulled", async () => {
    const j = job(`test-job-${process.pid}-hw`, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
    j.hardwareProfile = "h200x8";
    const events: JobEventPayload[] = [];
    const result = await runPodJob(
      j,
      { signal: new AbortController().signal, emit: (e) => events.push(e) },
      { ...options(), nvidiaSmiPath: replay, env: replayEnv("h200-x2") },
    );
    expect(result.completed).toBe(false);
    expect(result.reason).toMatch(
      /^hardware verification failed: .*gpu-count \(host\): found 2 GPU\(s\), the profile needs exactly 8/,
    );
    // The report went into the result: what the probe saw, not a stand-in.
    expect(result.hardware?.profile).toBe("h200x8");
    expect(result.hardware?.gpus.map((g) => g.name)).toEqual(["NVIDIA H200", "NVIDIA H200"]);
    expect(result.hardware?.fingerprint?.nvidiaSmiPath).toBe(replay);
    expect(result.hardware?.failures.map((f) => f.rule)).toContain("gpu-count");
    // Every other failure is this machine's host (no NVIDIA runtime, little disk), never the GPUs.
    const gpuRules = result.hardware?.failures.filter((f) => f.subject !== "host").map((f) => f.rule);
    expect(gpuRules).toEqual([]);
    expect(events.some((e) => e.case === "progress" && e.value.phase === "pull")).toBe(false);
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.UNSPECIFIED]);
  });

  it("fails the job when nvidia-smi is missing under a GPU profile (cannot tell)", async () => {
    const j = job(`test-job-${process.pid}-nosmi`, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
    j.hardwareProfile = "h100x8";
    const result = await runPodJob(
      j,
      { signal: new AbortController().signal, emit: () => {} },
      { ...options(), nvidiaSmiPath: join(tmp, "no-such-nvidia-smi") },
    );
    expect(result.completed).toBe(false);
    expect(result.reason).toMatch(/^hardware verification failed: nvidia-smi not found .*--nvidia-smi PATH/);
  });

  it("fails the job naming an unknown hardware profile", async () => {
    const j = job(`test-job-${process.pid}-badprofile`, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
    j.hardwareProfile = "a100x3";
    const result = await runPodJob(j, { signal: new AbortController().signal, emit: () => {} }, options());
    expect(result.reason).toMatch(/^hardware verification failed: unknown hardware profile "a100x3"/);
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

describe("runPodJob's GPU idle gate and copy test (replayed nvidia-smi captures, real engine)", () => {
  /** A 2-GPU h200x8 this host can meet: GPU rules kept, the host's missing NVIDIA runtime and disk waived. */
  const profile = (name: string, extra = "") => {
    const file = join(tmp, `${name}.yaml`);
    writeFileSync(
      file,
      `extends: h200x8\ngpuCount: 2\nminAllReduceBusGbPerS: 263\nrequireNvidiaContainerRuntime: false\nminDockerDiskFreeGib: 0\n${extra}`,
    );
    return file;
  };
  /** nvidia-smi-replay behind a wrapper that logs every call, to count the probe's and the gate's. */
  const loggingSmi = (name: string) => {
    const path = join(tmp, `${name}-nvidia-smi`);
    const log = join(tmp, `${name}.log`);
    writeFileSync(path, `#!/usr/bin/env bash\necho "$*" >> "${log}"\nexec "${replay}" "$@"\n`);
    chmodSync(path, 0o755);
    return { path, calls: () => readFileSync(log, "utf8").trim().split("\n") };
  };
  const capture = readFileSync(join(fixtures, "h200-x2-firecracker", "bandwidth.jsonl"), "utf8")
    .split("\n")
    .find((l) => l.startsWith("{")) as string;
  // The real 2x H200 all-reduce (device tool, nvidia-h200-x2): 327.4 GB/s bus bandwidth at 1 GiB.
  const allReduce = readFileSync(join(fixtures, "nvidia-h200-x2-real", "all-reduce.jsonl"), "utf8").split(
    "\n",
  )[0] as string;

  it("waits for idle GPUs before every arm and records the copy test of the baseline image", async () => {
    const smi = loggingSmi("idle");
    const jobId = `test-job-${process.pid}-gate`;
    const j = job(jobId, [
      arm("b0", ArmRole.OPENING_BASELINE, hostileRef),
      arm("b9", ArmRole.CLOSING_BASELINE, hostileRef),
    ]);
    j.hardwareProfile = profile("h200x2");
    const runs: string[][] = [];
    const result = await runPodJob(
      j,
      { signal: new AbortController().signal, emit: () => {} },
      {
        ...options(),
        gpus: "none",
        nvidiaSmiPath: smi.path,
        env: replayEnv("h200-x2-firecracker/idle"),
        idleGate: { samples: 2, intervalMs: 10 },
        bandwidthCheck: true,
        // The GPUs cannot run here: replay the real 2x H200 measurement, as the container would print it.
        bandwidthRunner:
          (image) =>
          async ({ script }) => {
            runs.push([image, script]);
            return script === "gpu_copy_bandwidth.py" ? capture : allReduce;
          },
      },
    );
    expect(result.completed, result.reason).toBe(true);
    expect(result.hardware?.ok).toBe(true);
    expect(result.hardware?.bandwidth?.pairs.map((p) => p.gbPerS)).toEqual([393.277, 392.936]);
    expect(result.hardware?.bandwidth?.minGbPerS).toBe(315);
    const digest = result.arms[0]?.image?.configDigest as string;
    expect(runs).toEqual([
      [digest, "gpu_copy_bandwidth.py"],
      [digest, "nccl_all_reduce.py"],
    ]);
    expect(result.hardware?.bandwidth?.allReduce?.ranks).toBe(2);
    // One -q -x for the probe, then two idle samples before each of the two arms and one check
    // after each that the GPUs came free.
    expect(smi.calls().filter((c) => c === "-q -x")).toHaveLength(1 + 2 * 2 + 2);
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.MEASURED, ArmOutcome.MEASURED]);
  });

  it("fails the job, naming the busy GPU, when the GPUs never go idle", async () => {
    const jobId = `test-job-${process.pid}-busy`;
    const j = job(jobId, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
    // The busy capture has a PyTorch process on GPU 0: allowed by this profile so the gate is what stops it.
    j.hardwareProfile = profile("h200x2-shared", "forbidGpuProcesses: false\n");
    const result = await runPodJob(
      j,
      { signal: new AbortController().signal, emit: () => {} },
      {
        ...options(),
        gpus: "none",
        nvidiaSmiPath: replay,
        env: replayEnv("h200-x2-firecracker/busy"),
        idleGate: { samples: 2, intervalMs: 20, timeoutMs: 200 },
      },
    );
    expect(result.completed).toBe(false);
    expect(result.hardware?.ok).toBe(true);
    expect(result.reason).toMatch(
      /the GPUs did not go idle before arm b0 .*gpu 0: 100% busy > 5%; gpu 0: 21877 MiB in use > 1024 MiB \(pid 972 python3\); stop whatever else uses them/,
    );
    // The pod's fault, not the arm's: it is reported as not run (the job is rerun elsewhere).
    expect(result.arms.map((a) => a.outcome)).toEqual([ArmOutcome.CANCELLED]);
    expect(result.arms[0]?.reason).toMatch(
      /^not run: the pod failed during arm b0: the GPUs did not go idle/,
    );
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });

  it("fails verification when the copy test is below the profile or cannot get GPUs", async () => {
    const run = (jobId: string, runner?: PodJobOptions["bandwidthRunner"]) => {
      const j = job(jobId, [arm("b0", ArmRole.OPENING_BASELINE, hostileRef)]);
      j.hardwareProfile = profile("h200x2");
      return runPodJob(
        j,
        { signal: new AbortController().signal, emit: () => {} },
        {
          ...options(),
          gpus: "none",
          nvidiaSmiPath: replay,
          env: replayEnv("h200-x2-firecracker/idle"),
          bandwidthCheck: true,
          ...(runner ? { bandwidthRunner: runner } : {}),
        },
      );
    };
    const slow = await run(
      `test-job-${process.pid}-slowbw`,
      () =>
        async ({ script }) =>
          script === "gpu_copy_bandwidth.py"
            ? capture.replace('"gb_per_s": 393.277', '"gb_per_s": 250.5')
            : allReduce,
    );
    expect(slow.completed).toBe(false);
    expect(slow.reason).toBe(
      "hardware verification failed: bandwidth (host): copy bandwidth below 315 GB/s: gpu 0->1 250.5 GB/s",
    );
    expect(slow.hardware?.ok).toBe(false);
    expect(slow.hardware?.bandwidth?.ok).toBe(false);
    expect(slow.arms.map((a) => a.outcome)).toEqual([ArmOutcome.UNSPECIFIED]);
    // A fabric that copies pair by pair at full speed but all-reduces slowly (a degraded NVSwitch).
    const slowReduce = await run(
      `test-job-${process.pid}-slowar`,
      () =>
        async ({ script }) =>
          script === "gpu_copy_bandwidth.py"
            ? capture
            : allReduce.replace('"bus_gb_per_s": 327.388', '"bus_gb_per_s": 250.1'),
    );
    expect(slowReduce.reason).toBe(
      "hardware verification failed: all-reduce (gpu 0-1): NCCL all-reduce bus bandwidth 250.1 GB/s at 1 GiB, the profile needs 263 GB/s: a slow or degraded NVLink/NVSwitch fabric",
    );
    expect(slowReduce.hardware?.bandwidth?.allReduce?.ok).toBe(false);
    // The real runner on this engine: no NVIDIA runtime, so the container cannot get GPUs.
    const noGpus = await run(`test-job-${process.pid}-nogpubw`);
    expect(noGpus.completed).toBe(false);
    expect(noGpus.reason).toMatch(
      /^hardware verification failed: bandwidth \(host\): the copy test could not run: Docker cannot give the container GPUs .*NVIDIA Container Toolkit/,
    );
  });
});
