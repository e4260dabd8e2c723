import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";
import { idleViolations, waitForGpuIdle } from "./wait-for-gpu-idle.ts";

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
    const dir = folder("settles", busy);
    const env = envFor(dir);
    const waiting = waitForGpuIdle({
      nvidiaSmiPath: replay,
      env,
      samples: 2,
      intervalMs: 50,
      timeoutMs: 20_000,
    });
    setTimeout(() => copyFileSync(idle, join(dir, "q.xml")), 300);
    const result = await waiting;
    expect(result.idle).toBe(true);
    expect(result.samplesTaken).toBeGreaterThanOrEqual(3);
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
