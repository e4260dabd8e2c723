import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  csvNumber,
  type GpuActivity,
  parseGpuLine,
  parseProcessLine,
  startGpuSampler,
  summariseGpuActivity,
} from "./gpu-sampler.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const real = join(fixtures, "nvidia-h200-x4-real");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-sampler-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Samples a capture folder through the replay (a real child process looping like nvidia-smi -lms). */
async function sample(dir: string, ms: number, smi = replay): Promise<GpuActivity> {
  const sampler = await startGpuSampler({
    nvidiaSmiPath: smi,
    env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: dir },
    intervalMs: 100,
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  return sampler.stop();
}

describe("the sampler's line parsers", () => {
  it("reads nvidia-smi's csv,noheader,nounits lines and N/A markers", () => {
    expect(parseGpuLine("0, GPU-7f6f, 96, 9205, 691.58", 5, true)).toEqual({
      atMs: 5,
      index: 0,
      uuid: "GPU-7f6f",
      utilizationPercent: 96,
      memoryUsedMib: 9205,
      powerW: 691.58,
    });
    expect(parseGpuLine("1, GPU-a, [N/A], [Not Supported]", 1, false)).toMatchObject({
      utilizationPercent: -1,
      memoryUsedMib: -1,
      powerW: -1,
    });
    expect(parseGpuLine("No devices were found", 1, true)).toBeUndefined();
    expect(parseGpuLine("0, GPU-a, 1, 2", 1, true)).toBeUndefined();
    expect(csvNumber(" 12.5 ")).toBe(12.5);
    expect(csvNumber("[N/A]")).toBe(-1);
  });

  it("keeps commas inside a process name", () => {
    expect(parseProcessLine("GPU-a, 2463, python3 -c x,y, 9196", 7)).toEqual({
      atMs: 7,
      gpuUuid: "GPU-a",
      pid: 2463,
      name: "python3 -c x,y",
      usedMemoryMib: 9196,
    });
    expect(parseProcessLine("No running processes found", 7)).toBeUndefined();
  });
});

describe("summariseGpuActivity", () => {
  it("reproduces, from the samples, the figures the bundle printed on the real 4x H200 machine", () => {
    for (const name of ["gpu-activity-idle.json", "gpu-activity-busy.json"]) {
      const activity = JSON.parse(readFileSync(join(real, name), "utf8")) as GpuActivity;
      expect(summariseGpuActivity(activity.samples, activity.processes)).toEqual(activity.gpus);
    }
  });

  it("tells a computing GPU from one a process only holds (the real busy capture)", () => {
    const busy = JSON.parse(readFileSync(join(real, "gpu-activity-busy.json"), "utf8")) as GpuActivity;
    const [computing, holding, untouched] = busy.gpus;
    expect(computing).toMatchObject({ activeFraction: 1, pids: [2463] });
    expect(computing?.meanUtilizationPercent).toBeGreaterThan(90);
    expect(computing?.meanPowerW).toBeGreaterThan(600);
    expect(holding).toMatchObject({ activeFraction: 0, maxUtilizationPercent: 0, pids: [2464] });
    expect(holding?.maxMemoryUsedMib).toBeGreaterThan(8000);
    expect(untouched).toMatchObject({ activeFraction: 0, pids: [], maxMemoryUsedMib: 4 });
  });

  it("says -1 where nothing was reported and counts only reported samples", () => {
    const s = (index: number, util: number) => ({
      atMs: 0,
      index,
      uuid: `GPU-${index}`,
      utilizationPercent: util,
      memoryUsedMib: -1,
      powerW: -1,
    });
    expect(summariseGpuActivity([s(1, -1), s(0, 50), s(0, 0), s(0, -1)], [])).toEqual([
      {
        index: 0,
        uuid: "GPU-0",
        samples: 3,
        meanUtilizationPercent: 25,
        maxUtilizationPercent: 50,
        activeFraction: 0.5,
        maxMemoryUsedMib: -1,
        meanPowerW: -1,
        pids: [],
      },
      {
        index: 1,
        uuid: "GPU-1",
        samples: 1,
        meanUtilizationPercent: -1,
        maxUtilizationPercent: -1,
        activeFraction: 0,
        maxMemoryUsedMib: -1,
        meanPowerW: -1,
        pids: [],
      },
    ]);
  });
});

describe("startGpuSampler (the real captures replayed by a looping child process)", () => {
  it("samples the busy 4x H200 capture: GPU 0 computing, GPU 1 held by a sleeping process", async () => {
    const activity = await sample(join(real, "busy"), 700);
    expect(activity.problems).toEqual([]);
    expect(activity.gpus.map((g) => g.index)).toEqual([0, 1, 2, 3]);
    expect(activity.gpus[0]?.activeFraction).toBeGreaterThan(0.9);
    expect(activity.gpus[0]?.pids).toEqual([2463]);
    expect(activity.gpus[1]).toMatchObject({ activeFraction: 0, pids: [2464] });
    expect(activity.gpus[2]?.pids).toEqual([]);
    expect(activity.samples.length).toBeGreaterThanOrEqual(8);
    expect(activity.stoppedAtMs).toBeGreaterThanOrEqual(activity.startedAtMs);
  });

  it("samples the idle capture: nothing active, no process", async () => {
    const activity = await sample(join(real, "idle"), 400);
    expect(activity.problems).toEqual([]);
    expect(activity.gpus.every((g) => g.activeFraction === 0 && g.pids.length === 0)).toBe(true);
    expect(activity.processes).toEqual([]);
  });

  it("reports, without throwing, a missing nvidia-smi and a loop that dies", async () => {
    const missing = await startGpuSampler({ nvidiaSmiPath: join(tmp, "absent") });
    expect((await missing.stop()).problems).toEqual([
      `nvidia-smi not found ("${join(tmp, "absent")}"): nothing was sampled`,
    ]);
    const noApps = join(tmp, "no-apps");
    cpSync(join(real, "idle"), noApps, { recursive: true });
    rmSync(join(noApps, "sampler-apps.csv"));
    const activity = await sample(noApps, 300);
    expect(activity.samples.length).toBeGreaterThan(0);
    expect(activity.problems.join("\n")).toMatch(
      /the process loop .* ended early with exit 9: NVIDIA-SMI has failed/,
    );
  });

  it("asks once more at stop when the process loop printed nothing yet (a slow start on a loaded host)", async () => {
    const smi = join(tmp, "slow-apps-loop-nvidia-smi");
    // The looping process query starts 5 s late; the one-shot query answers at once.
    writeFileSync(
      smi,
      `#!/usr/bin/env bash\ncase "$1 \${3:-}" in --query-compute-apps=*" -lms") sleep 5 >/dev/null 2>&1 </dev/null & wait $! ;; esac\nexec "${replay}" "$@"\n`,
    );
    chmodSync(smi, 0o755);
    const activity = await sample(join(real, "busy"), 300, smi);
    expect(activity.problems).toEqual([]);
    expect(activity.gpus[0]?.pids).toEqual([2463]);
    expect(activity.gpus[1]?.pids).toEqual([2464]);
  });

  it("drops power.draw where the driver refuses it, and says so", async () => {
    const smi = join(tmp, "no-power-nvidia-smi");
    // As nvidia-smi does for an unknown field: the whole query fails.
    writeFileSync(
      smi,
      `#!/usr/bin/env bash\ncase "$1" in *power.draw*) echo 'Field "power.draw" is not a valid field to query.' >&2; exit 2 ;; esac\nexec "${replay}" "$@"\n`,
    );
    chmodSync(smi, 0o755);
    const dir = join(tmp, "no-power");
    cpSync(join(real, "busy"), dir, { recursive: true });
    const csv = readFileSync(join(dir, "sampler-gpu.csv"), "utf8");
    writeFileSync(join(dir, "sampler-gpu.csv"), csv.replace(/, [^,\n]*$/gm, ""));
    const activity = await sample(dir, 300, smi);
    expect(activity.problems).toEqual([
      'power.draw is not supported here (Field "power.draw" is not a valid field to query.); sampling without it',
    ]);
    expect(activity.samples[0]?.powerW).toBe(-1);
    expect(activity.gpus[0]?.activeFraction).toBeGreaterThan(0.9);
  });

  it("stops when its signal aborts", async () => {
    const controller = new AbortController();
    const sampler = await startGpuSampler({
      nvidiaSmiPath: replay,
      env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: join(real, "idle") },
      intervalMs: 100,
      signal: controller.signal,
    });
    controller.abort();
    const activity = await sampler.stop();
    expect(activity.problems).toEqual([]);
  });
});
