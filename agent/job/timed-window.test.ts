// An arm's timed window on the real engine and registry: no pull moves a byte while an arm is timed
// (the next arm's image would load one arm's machine and not another's), and the GPU figures of
// the window come from the real sampler reading replayed captures of a real 4x H200, judged
// against the host pids of the arm's real container.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { testServices } from "../../test/support/services.ts";
import { runWorkload } from "../bench/run-workload.ts";
import { removeJobObjects } from "../containers/job-network.ts";
import { createPullQueue } from "../containers/pull-queue.ts";
import { buildHostileImage } from "../containers/testing/hostile-image.ts";
import { buildNodeTestImage, pushTestImage, testLabel } from "../containers/testing/node-test-image.ts";
import { type SlowRegistry, startSlowRegistry } from "../containers/testing/slow-registry.ts";
import { startGpuSampler } from "../hardware/gpu-sampler.ts";
import type { JobEventPayload } from "./job-executor.ts";
import { runPodJob } from "./run-pod-job.ts";
import { hostileJob, testArm } from "./testing/hostile-job.ts";
import { createTimedWindows } from "./timed-window.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const mib = 1024 * 1024;
const tmp = mkdtempSync(join(tmpdir(), "cacheon-timed-window-"));
const captures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const replay = join(captures, "nvidia-smi-replay");
let local: string;
let honest: string;
let slow: SlowRegistry;

beforeAll(async () => {
  local = await buildHostileImage(docker, "serve");
  honest = await pushTestImage(
    docker,
    local,
    `${services.registry}/cacheon-test/hostile:${local.split(":")[1]}`,
  );
  // 50 kB/s: an image's own 500 kB take 10 s to pull, longer than an arm takes to start and be timed.
  slow = await startSlowRegistry({ upstream: services.registry, bytesPerSecond: 50_000 });
});

afterAll(async () => {
  await slow?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * A server image this engine has never seen: the hostile test server in serve mode with its own
 * 500 kB that do not compress (the rest is layers the engine holds), served by the slow registry.
 */
async function slowServer(): Promise<string> {
  const built = await buildNodeTestImage({
    docker,
    repository: "cacheon-test/timed-pulls",
    area: "job",
    files: {
      "hostile-server.ts": readFileSync(
        join(import.meta.dirname, "..", "containers", "testing", "hostile-server.ts"),
      ),
      "pad.bin": randomBytes(500 * 1024),
    },
    cmd: ["/bin/node", "--disable-warning=ExperimentalWarning", "/app/hostile-server.ts", "--mode=serve"],
  });
  const remote = `${services.registry}/cacheon-test/timed-pulls:${built.split(":")[1]}`;
  const ref = await pushTestImage(docker, built, remote);
  for (const name of [built, remote]) await docker.getImage(name).remove();
  return ref.replace(services.registry, slow.host);
}

/**
 * Runs baseline, two challengers whose images come slowly, baseline; each arm's timed window is
 * held open a second before its requests, and the bytes the registry sent meanwhile are recorded.
 */
async function jobWithSlowPulls(pausePullsWhileTimed: boolean) {
  const jobId = `test-timed-pulls-${pausePullsWhileTimed ? "paused" : "during"}-${process.pid}`;
  const sentWhileTimed: Record<string, number> = {};
  const waits: string[] = [];
  const [a, b] = [await slowServer(), await slowServer()];
  const result = await runPodJob(
    hostileJob(jobId, [
      testArm("b0", ArmRole.OPENING_BASELINE, honest),
      testArm("c1", ArmRole.CHALLENGER, a),
      testArm("c2", ArmRole.CHALLENGER, b),
      testArm("b9", ArmRole.CLOSING_BASELINE, honest),
    ]),
    {
      signal: new AbortController().signal,
      emit: (e: JobEventPayload) => {
        if (e.case === "progress" && /waiting for a running pull/.test(e.value.message))
          waits.push(e.value.armId);
      },
    },
    {
      docker,
      limits: { memoryBytes: 256 * mib, cpus: 1, pidsLimit: 64, shmBytes: 16 * mib, nofile: 4096 },
      stopGraceS: 1,
      readyIntervalMs: 100,
      startupTimeoutS: { baseline: 30, challenger: 30 },
      pullTimeoutMs: 120_000,
      removeImages: true,
      pausePullsWhileTimed,
      // The real measurement, inside the window the job opened for it.
      measure: async (input) => {
        const before = slow.sent();
        await sleep(1000);
        try {
          const run = await runWorkload(input);
          return { summary: run.summary, requests: run.requests, outputs: run.outputs, prompts: run.prompts };
        } finally {
          sentWhileTimed[input.armId] = slow.sent() - before;
        }
      },
    },
  );
  expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  return { result, sentWhileTimed, waits };
}

describe("a pod job's pulls while an arm is timed", () => {
  it("are paused: the next arm's image waits, and a pull already running is let finish before the timing starts", async () => {
    const { result, sentWhileTimed, waits } = await jobWithSlowPulls(true);
    for (const arm of result.arms)
      expect(arm.outcome, `${arm.armId}: ${arm.reason}`).toBe(ArmOutcome.MEASURED);
    expect(sentWhileTimed).toEqual({ b0: 0, c1: 0, c2: 0, b9: 0 });
    // b0 was ready while c1's image was still coming (10 s), and waited for it before timing.
    expect(waits).toContain("b0");
  }, 180_000);

  it("the control: not paused, the next arm's image is pulled while b0 is timed", async () => {
    const { result, sentWhileTimed, waits } = await jobWithSlowPulls(false);
    for (const arm of result.arms)
      expect(arm.outcome, `${arm.armId}: ${arm.reason}`).toBe(ArmOutcome.MEASURED);
    expect(sentWhileTimed.b0).toBeGreaterThan(0);
    expect(waits).toEqual([]);
  }, 180_000);
});

describe("an arm's GPU figures from the real sampler (replayed 4x H200 captures) and its container", () => {
  let containerId: string;
  let pid: number;
  beforeAll(async () => {
    const container = await docker.createContainer({
      Image: local,
      Labels: { [testLabel]: "timed-window" },
      HostConfig: { AutoRemove: false },
    });
    await container.start();
    containerId = container.id;
    pid = (await container.inspect()).State.Pid;
  });
  afterAll(async () => {
    await docker
      .getContainer(containerId)
      .remove({ force: true })
      .catch(() => {});
  });

  /** The real capture, with its busy PyTorch process (pid 2463 on GPU 0) given `as` pid. */
  function capture(state: "busy" | "idle", as?: number): string {
    const dir = mkdtempSync(join(tmp, `${state}-`));
    cpSync(join(captures, "nvidia-h200-x4-real", state), dir, { recursive: true });
    if (as !== undefined) {
      const apps = join(dir, "sampler-apps.csv");
      writeFileSync(apps, readFileSync(apps, "utf8").replaceAll(", 2463, ", `, ${as}, `));
    }
    return dir;
  }

  async function timed(fixtureDir: string, nvidiaSmiPath = replay) {
    const windows = createTimedWindows({
      docker,
      pulls: createPullQueue({ pull: () => Promise.reject(new Error("nothing is pulled here")) }),
      expectedGpus: 4,
      startSampler: startGpuSampler,
      nvidiaSmiPath,
      env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: fixtureDir },
      sampleIntervalMs: 100,
    });
    const window = await windows({ armId: "c1", containerId, signal: new AbortController().signal });
    await sleep(700);
    return window.close();
  }

  it("finds the container's own process computing on GPU 0, and raises nothing", async () => {
    const figures = await timed(capture("busy", pid));
    expect(figures.findings).toEqual([]);
    expect(figures.gpuActivity?.containerPids).toContain(pid);
    const [gpu0, gpu1] = figures.gpuActivity?.gpus ?? [];
    expect(gpu0?.armProcess).toBe(true);
    expect(gpu0?.pids).toEqual([pid]);
    expect(gpu0?.meanUtilizationPercent).toBeGreaterThan(90);
    expect(gpu1?.armProcess).toBe(false);
    expect(figures.gpuActivity?.gpus).toHaveLength(4);
  });

  it("flags the arm when the busy GPUs were someone else's processes", async () => {
    const figures = await timed(capture("busy"));
    expect(figures.gpuActivity?.gpus.some((g) => g.armProcess)).toBe(false);
    expect(figures.findings[0]).toMatch(/^no process of the arm's container held memory on any GPU/);
  });

  it("flags the arm on idle GPUs: answers from a table or the CPU", async () => {
    const figures = await timed(capture("idle"));
    expect(figures.findings).toHaveLength(2);
    expect(figures.findings[1]).toMatch(/stayed idle while the arm was timed \(busiest 0\.0% on average/);
  });

  it("fails closed when the GPUs cannot be sampled", async () => {
    const figures = await timed(capture("idle"), join(tmp, "no-nvidia-smi"));
    expect(figures.findings).toEqual([
      expect.stringMatching(/^GPU use during the timed window could not be proven: 0 of 4 GPUs sampled \(/),
    ]);
  });
});
