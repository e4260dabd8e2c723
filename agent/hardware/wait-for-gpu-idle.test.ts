import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";
import { gpuCountViolations, idleViolations, waitForGpuIdle } from "./wait-for-gpu-idle.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const busy = join(fixtures, "h200-x2-firecracker", "busy", "q.xml");
const idle = join(fixtures, "h200-x2-firecracker", "idle", "q.xml");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-idle-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const envFor = (dir: string) => ({ PATH: process.env.PATH, NVSMI_FIXTURE_DIR: dir });
const limits = { maxTemperatureC: 65, maxUtilizationPercent: 5, maxMemoryUsedMib: 1024 };

describe("idleViolations", () => {
  it("names the busy GPU of the real busy capture and nothing on the idle one", () => {
    expect(idleViolations(parseNvidiaSmiXml(readFileSync(busy, "utf8")).gpus, limits)).toEqual([
      "gpu 0: 100% busy > 5%",
      "gpu 0: 21877 MiB in use > 1024 MiB (pid 972 python3)",
    ]);
    expect(idleViolations(parseNvidiaSmiXml(readFileSync(idle, "utf8")).gpus, limits)).toEqual([]);
  });

  it("treats unknown temperature or utilisation as not idle", () => {
    const text = readFileSync(idle, "utf8").replace("<gpu_temp>33 C</gpu_temp>", "<gpu_temp>N/A</gpu_temp>");
    const gpus = parseNvidiaSmiXml(text).gpus;
    expect(idleViolations(gpus, limits)).toEqual(["gpu 1: temperature unknown"]);
    const hot = parseNvidiaSmiXml(readFileSync(busy, "utf8")).gpus;
    expect(idleViolations(hot, { ...limits, maxTemperatureC: 50 })).toContain("gpu 0: 54 C > 50 C");
  });
});

describe("gpuCountViolations", () => {
  const gpus = parseNvidiaSmiXml(readFileSync(idle, "utf8")).gpus;
  it("never passes zero GPUs and wants the profile's count", () => {
    expect(gpuCountViolations([], 8)).toEqual(["nvidia-smi shows no GPU, the profile needs 8"]);
    expect(gpuCountViolations([], undefined)).toEqual(["nvidia-smi shows no GPU"]);
    expect(gpuCountViolations(gpus, 8)).toEqual(["nvidia-smi shows 2 GPU(s), the profile needs 8"]);
    expect(gpuCountViolations(gpus, 2)).toEqual([]);
    expect(gpuCountViolations(gpus, undefined)).toEqual([]);
  });

  it("treats memory in use that nvidia-smi cannot read as not idle", () => {
    const text = readFileSync(idle, "utf8").replace("<used>0 MiB</used>", "<used>[N/A]</used>");
    expect(idleViolations(parseNvidiaSmiXml(text).gpus, limits)).toEqual(["gpu 0: memory in use unknown"]);
  });
});

describe("waitForGpuIdle (replayed nvidia-smi as a real process)", () => {
  const folder = (name: string, source: string) => {
    const dir = join(tmp, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    copyFileSync(source, join(dir, "q.xml"));
    return dir;
  };

  it("passes after the required consecutive idle samples", async () => {
    const dir = folder("idle", idle);
    const result = await waitForGpuIdle({
      nvidiaSmiPath: replay,
      env: envFor(dir),
      samples: 3,
      intervalMs: 10,
      timeoutMs: 10_000,
    });
    expect(result).toMatchObject({ idle: true, samplesTaken: 3, reasons: [] });
    expect(result.gpus).toHaveLength(2);
  });

  it("restarts the count when a sample is busy and passes once the GPU settles", async () => {
    // The GPU settles after exactly one busy sample, whatever the machine's load: the stand-in
    // answers its first call from the busy capture and every later one from the idle capture.
    const busyDir = folder("settles-busy", busy);
    const idleDir = folder("settles-idle", idle);
    const counter = join(tmp, "settles-calls");
    const smi = join(tmp, "settles-nvidia-smi");
    writeFileSync(
      smi,
      `#!/usr/bin/env bash\nn=$(cat "${counter}" 2>/dev/null || echo 0)\necho $((n + 1)) >"${counter}"\n[ "$n" -eq 0 ] && export NVSMI_FIXTURE_DIR="${busyDir}" || export NVSMI_FIXTURE_DIR="${idleDir}"\nexec "${replay}" "$@"\n`,
    );
    chmodSync(smi, 0o755);
    const result = await waitForGpuIdle({
      nvidiaSmiPath: smi,
      env: { PATH: process.env.PATH },
      samples: 2,
      intervalMs: 10,
      timeoutMs: 20_000,
    });
    expect(result).toMatchObject({ idle: true, samplesTaken: 3, reasons: [] });
  });

  it("gives up at the timeout with the reasons of the last sample", async () => {
    const dir = folder("busy", busy);
    const result = await waitForGpuIdle({
      nvidiaSmiPath: replay,
      env: envFor(dir),
      intervalMs: 20,
      timeoutMs: 200,
    });
    expect(result.idle).toBe(false);
    expect(result.reasons).toEqual([
      "gpu 0: 100% busy > 5%",
      "gpu 0: 21877 MiB in use > 1024 MiB (pid 972 python3)",
    ]);
  });

  it("refuses at once an nvidia-smi that shows no GPU, or fewer than the profile needs (zero never passes)", async () => {
    const noGpus = join(tmp, "no-gpus");
    mkdirSync(noGpus, { recursive: true });
    const xml = readFileSync(idle, "utf8");
    const empty = `${xml.slice(0, xml.indexOf("\t<gpu id="))}</nvidia_smi_log>\n`.replace(
      "<attached_gpus>2</attached_gpus>",
      "<attached_gpus>0</attached_gpus>",
    );
    writeFileSync(join(noGpus, "q.xml"), empty);
    for (const profile of ["h200x8", "none"]) {
      const result = await waitForGpuIdle({
        profile,
        nvidiaSmiPath: replay,
        env: envFor(noGpus),
        intervalMs: 10,
        timeoutMs: 10_000,
      });
      expect(result).toMatchObject({ idle: false, samplesTaken: 1 });
      expect(result.reasons[0]).toMatch(/^nvidia-smi shows no GPU/);
    }
    const two = await waitForGpuIdle({
      profile: "h200x8",
      nvidiaSmiPath: replay,
      env: envFor(folder("two-of-eight", idle)),
      intervalMs: 10,
      timeoutMs: 10_000,
    });
    expect(two).toMatchObject({
      idle: false,
      samplesTaken: 1,
      reasons: ["nvidia-smi shows 2 GPU(s), the profile needs 8"],
    });
  });

  it("is idle at once for profile none without nvidia-smi", async () => {
    const result = await waitForGpuIdle({ profile: "none", nvidiaSmiPath: join(tmp, "absent") });
    expect(result).toMatchObject({ idle: true, samplesTaken: 0 });
  });

  it("rejects when nvidia-smi is missing under a GPU profile, and when aborted", async () => {
    await expect(waitForGpuIdle({ nvidiaSmiPath: join(tmp, "absent") })).rejects.toThrow(
      /nvidia-smi not found/,
    );
    const dir = folder("abort", busy);
    const controller = new AbortController();
    const waiting = waitForGpuIdle({
      nvidiaSmiPath: replay,
      env: envFor(dir),
      intervalMs: 5_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 200);
    await expect(waiting).rejects.toMatchObject({ code: "cancelled" });
  });
});
