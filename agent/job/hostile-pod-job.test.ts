// Hostile images in a pod job, on the real engine and registry: each is contained, the arm that
// misbehaved is the one blamed, and the honest arms around it are measured as usual.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { type SlowRegistry, startSlowRegistry } from "../containers/testing/slow-registry.ts";
import { pushSyntheticImage } from "../containers/testing/synthetic-image.ts";
import type { JobEventPayload } from "./job-executor.ts";
import type { PodJobOptions } from "./pod-job-options.ts";
import { runPodJob } from "./run-pod-job.ts";
import { hostileJob, testArm } from "./testing/hostile-job.ts";

const services = testServices();
const docker = new Docker({ socketPath: services.dockerSocket });
const mib = 1024 * 1024;
const fixtures = join(
  import.meta.dirname,
  "..",
  "..",
  "test",
  "fixtures",
  "nvidia-smi",
  "h200-x2-firecracker",
);
const standIn = join(import.meta.dirname, "testing", "nvidia-smi-stand-in");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hostile-job-"));
let honest: string;
let flooding: string;
let hugeBody: string;
let bomb: string;
let slowImage: string;
let slow: SlowRegistry;

async function pushed(mode: string, volumes?: string[]): Promise<string> {
  const local = await buildHostileImage(docker, mode, volumes ? { volumes } : {});
  return pushTestImage(docker, local, `${services.registry}/cacheon-test/hostile:${local.split(":")[1]}`);
}

beforeAll(async () => {
  honest = await pushed("serve");
  flooding = await pushed("serve,fill-volume", ["/data"]);
  hugeBody = await pushed("huge-body");
  // 512 MiB of zeros: a 500 kB download.
  bomb = await pushSyntheticImage({
    registry: services.registry,
    repository: "cacheon-test/bomb",
    layers: [{ path: "/zeros.bin", bytes: 512 * mib }],
  });
  // An image this engine has never seen (400 kB that do not compress), behind a registry that sends 20 kB/s.
  const slowly = await pushSyntheticImage({
    registry: services.registry,
    repository: "cacheon-test/slowly",
    layers: [{ path: "/random.bin", bytes: 400 * 1024, random: true }],
  });
  slow = await startSlowRegistry({ upstream: services.registry, bytesPerSecond: 20_000 });
  slowImage = slowly.replace(services.registry, slow.host);
});

afterAll(async () => {
  await slow?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const arm = testArm;
const job = (jobId: string, arms: Arm[]) => hostileJob(jobId, arms);

const options = (extra: Partial<PodJobOptions> = {}): PodJobOptions => ({
  docker,
  limits: {
    memoryBytes: 256 * mib,
    cpus: 1,
    pidsLimit: 64,
    shmBytes: 16 * mib,
    nofile: 4096,
    tmpBytes: 8 * mib,
    volumeBytes: 16 * mib,
  },
  stopGraceS: 1,
  readyIntervalMs: 100,
  startupTimeoutS: { baseline: 20, challenger: 4 },
  // The hostile test images are 132 MB unpacked; the bomb unpacks to 537 MB.
  maxImageBytes: 256e6,
  // Long enough for the bomb's 500 kB to be counted on a loaded machine; the slow registry's
  // 400 kB take 20 s or more.
  pullTimeoutMs: 15_000,
  removeImages: true,
  ...extra,
});

describe("a pod job with hostile images", () => {
  it("contains a VOLUME flood, an endless readiness body, a compression bomb and a slow registry, blaming only their arms", async () => {
    const jobId = `test-hostile-${process.pid}`;
    // While the flood arm is measured, look at what its /data is.
    let floodMounts: Promise<string[]> | undefined;
    const watch = (e: JobEventPayload) => {
      if (e.case === "progress" && e.value.armId === "flood" && e.value.phase === "measure" && !floodMounts) {
        floodMounts = docker
          .listContainers({
            filters: JSON.stringify({ label: [`cacheon.job=${jobId}`, "cacheon.arm=flood"] }),
          })
          .then(async ([info]) => (await docker.getContainer(info?.Id ?? "none").inspect()).Mounts)
          .then((mounts) => mounts.map((m) => `${m.Destination} ${m.Type}`));
      }
    };
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, honest),
        arm("flood", ArmRole.CHALLENGER, flooding),
        arm("body", ArmRole.CHALLENGER, hugeBody),
        arm("bomb", ArmRole.CHALLENGER, bomb),
        arm("slow", ArmRole.CHALLENGER, slowImage),
        arm("c5", ArmRole.CHALLENGER, honest),
        arm("b9", ArmRole.CLOSING_BASELINE, honest),
      ]),
      { signal: new AbortController().signal, emit: watch },
      options(),
    );
    const by = Object.fromEntries(result.arms.map((a) => [a.armId, a]));
    expect(result.completed, result.reason).toBe(true);
    // The flood filled its own 16 MiB tmpfs and the server went on serving: measured, nothing on
    // the host's disk (no anonymous volume was created for its VOLUME).
    expect(by.flood?.outcome).toBe(ArmOutcome.MEASURED);
    expect(await floodMounts).toEqual(["/data tmpfs"]);
    // The endless body: read 64 KiB at a time and given up on, never ready.
    expect(by.body?.outcome).toBe(ArmOutcome.NEVER_READY);
    expect(by.body?.reason).toMatch(/over 64 KiB; the rest was not read/);
    // The bomb: refused while downloading, before anything was unpacked.
    expect(by.bomb?.outcome).toBe(ArmOutcome.PULL_FAILED);
    expect(by.bomb?.reason).toMatch(/refused: it unpacks to more than 256\.0 MB \(counted while downloading/);
    // The slow registry: stopped at the pull deadline, the job went on.
    expect(by.slow?.outcome, by.slow?.reason).toBe(ArmOutcome.PULL_FAILED);
    expect(by.slow?.reason).toMatch(/did not finish within 15 s \([\d.]+ kB of 4\d\d\.\d kB downloaded\)/);
    // Everyone else is measured as usual.
    for (const id of ["b0", "c5", "b9"])
      expect(by[id]?.outcome, `${id}: ${by[id]?.reason}`).toBe(ArmOutcome.MEASURED);
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });
});

describe("images after a pod job", () => {
  /** A hostile-server image unique to this run, pushed and then removed here: the job must pull it. */
  async function pushedAndGone(mode: string): Promise<string> {
    const local = await buildHostileImage(docker, `${mode},run-${process.pid}-${Date.now()}`);
    const remote = `${services.registry}/cacheon-test/hostile:${local.split(":")[1]}`;
    const ref = await pushTestImage(docker, local, remote);
    for (const name of [local, remote]) await docker.getImage(name).remove();
    return ref;
  }

  it("removes every image the job pulled but the pinned baseline's, which stays cached", async () => {
    const baseline = await pushedAndGone("serve");
    const challenger = await pushedAndGone("serve");
    const jobId = `test-images-${process.pid}`;
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, baseline),
        arm("c1", ArmRole.CHALLENGER, challenger),
        arm("b9", ArmRole.CLOSING_BASELINE, baseline),
      ]),
      { signal: new AbortController().signal, emit: () => {} },
      options(),
    );
    expect(result.arms.map((a) => a.outcome)).toEqual([
      ArmOutcome.MEASURED,
      ArmOutcome.MEASURED,
      ArmOutcome.MEASURED,
    ]);
    expect(result.arms[1]?.image?.pullSeconds).toBeGreaterThan(0);
    expect(await findPulledImage(docker, parseImageReference(challenger))).toBeUndefined();
    const kept = await findPulledImage(docker, parseImageReference(baseline));
    expect(kept).toBeDefined();
    await docker.getImage(kept as string).remove({ force: true });
  });
});

describe("a pod job whose arm leaves the GPUs held (replayed captures of a real H200)", () => {
  /** A stand-in nvidia-smi: idle until the test says the hostile arm holds GPU 0. */
  function gpus(name: string, reset: "allowed" | "refused") {
    const state = join(tmp, name);
    mkdirSync(state, { recursive: true });
    const idle = join(fixtures, "idle");
    // "Stuck": the busy capture's memory still in use but no process left, which only a reset frees.
    const stuck = join(state, "stuck");
    cpSync(join(fixtures, "busy"), stuck, { recursive: true });
    const xml = readFileSync(join(stuck, "q.xml"), "utf8");
    writeFileSync(join(stuck, "q.xml"), xml.replace(/<process_info>[\s\S]*?<\/process_info>/g, ""));
    writeFileSync(join(state, "current"), idle);
    if (reset === "allowed") writeFileSync(join(state, "after-reset"), idle);
    const left = reset === "allowed" ? stuck : join(fixtures, "busy");
    return {
      env: { PATH: process.env.PATH, NVSMI_STATE_DIR: state },
      /** Called on every job event: once the hostile arm is measured, GPU 0 stays held. */
      watch: (armId: string) => (e: JobEventPayload) => {
        if (e.case === "progress" && e.value.armId === armId && e.value.phase === "measure") {
          writeFileSync(join(state, "current"), left);
        }
      },
    };
  }
  const gpuOptions = (env: Record<string, string | undefined>) =>
    options({
      nvidiaSmiPath: standIn,
      env,
      gpus: "none",
      idleGate: { samples: 1, intervalMs: 10, timeoutMs: 2000 },
      gpuRelease: { timeoutMs: 400, intervalMs: 100 },
    });

  it("blames the arm that left a process on a GPU, and runs nothing more on that pod", async () => {
    const g = gpus("refused", "refused");
    const jobId = `test-gpu-fault-${process.pid}`;
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, honest),
        arm("c1", ArmRole.CHALLENGER, honest),
        arm("c2", ArmRole.CHALLENGER, honest),
        arm("b9", ArmRole.CLOSING_BASELINE, honest),
      ]),
      { signal: new AbortController().signal, emit: g.watch("c1") },
      gpuOptions(g.env),
    );
    const [b0, c1, c2, b9] = result.arms;
    expect(b0?.outcome).toBe(ArmOutcome.MEASURED);
    expect(c1?.outcome).toBe(ArmOutcome.GPU_FAULT);
    expect(c1?.reason).toMatch(
      /^the arm left the GPUs held after its container was removed \(gpu 0: pid 972 python3 holds 21868 MiB\); still held: .*\(before that, it was measured\)$/,
    );
    // The arms after it are not blamed: not run here, and the job is incomplete so it is rerun.
    for (const r of [c2, b9]) {
      expect(r?.outcome).toBe(ArmOutcome.CANCELLED);
      expect(r?.reason).toMatch(/^not run: arm c1 left the GPUs unusable/);
    }
    expect(result.completed).toBe(false);
    expect(result.reason).toMatch(
      /^arm c1 left the GPUs unusable \(gpu 0: pid 972 python3 holds 21868 MiB\)/,
    );
    expect(await removeJobObjects({ docker, jobId })).toEqual({ containers: 0, networks: 0 });
  });

  it("resets GPU memory left without a process where the platform allows, blames the arm, and goes on", async () => {
    const g = gpus("allowed", "allowed");
    const jobId = `test-gpu-reset-${process.pid}`;
    const result = await runPodJob(
      job(jobId, [
        arm("b0", ArmRole.OPENING_BASELINE, honest),
        arm("c1", ArmRole.CHALLENGER, honest),
        arm("c2", ArmRole.CHALLENGER, honest),
        arm("b9", ArmRole.CLOSING_BASELINE, honest),
      ]),
      { signal: new AbortController().signal, emit: g.watch("c1") },
      gpuOptions(g.env),
    );
    const [b0, c1, c2, b9] = result.arms;
    expect(c1?.outcome).toBe(ArmOutcome.GPU_FAULT);
    expect(c1?.reason).toMatch(/\(gpu 0: 21877 MiB in use with no process\); a GPU reset freed them/);
    for (const r of [b0, c2, b9]) expect(r?.outcome, r?.reason).toBe(ArmOutcome.MEASURED);
    expect(result.completed).toBe(true);
  });
});
