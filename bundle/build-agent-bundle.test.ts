import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentBundle, buildAgentBundle, buildVersion } from "./build-agent-bundle.ts";

// cloud-init downloads only the bundle: everything the agent runs on a pod must be inside it.
const root = join(import.meta.dirname, "..");
const fixtures = join(root, "test", "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-bundle-alone-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let bundle: AgentBundle;
let pod: string;
beforeAll(async () => {
  bundle = await buildAgentBundle({ outDir: join(tmp, "published") });
  pod = join(tmp, "pod");
  mkdirSync(pod);
  copyFileSync(bundle.file, join(pod, "cacheon-agent.mjs"));
});

const replay = join(fixtures, "nvidia-smi", "nvidia-smi-replay");
const realIdle = join(fixtures, "nvidia-smi", "nvidia-h200-x4-real", "idle");
const hardware = (profile: string) => [
  "hardware",
  "--profile",
  profile,
  "--bandwidth",
  "--nvidia-smi",
  replay,
  "--no-docker",
  "--json",
];

/** Runs the bundle from a folder that holds nothing else, with a clean environment. */
function agent(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["cacheon-agent.mjs", ...args],
      {
        cwd: pod,
        env: { PATH: process.env.PATH ?? "", PYTHONDONTWRITEBYTECODE: "1", ...env },
        encoding: "utf8",
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

describe("the agent bundle run alone from an empty folder, as cloud-init runs it", () => {
  it("embeds the GPU scripts", () => {
    expect(bundle.embedded).toEqual(["gpu_copy_bandwidth.py", "nccl_all_reduce.py"]);
  });

  it("reports the version it was built as (package version + commit), which it sends the controller", async () => {
    const { code, stdout } = await agent(["--version"], {});
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(`cacheon-agent ${buildVersion(join(import.meta.dirname, ".."))}`);
    expect(stdout).toMatch(/^cacheon-agent \d+\.\d+\.\d+(\+g[0-9a-f]{12})?\n$/);
  });

  it("runs hardware --bandwidth: the copy script comes out of the bundle (no PyTorch here, so it says so)", async () => {
    const { code, stdout } = await agent(hardware("h200x4"), {
      NVSMI_FIXTURE_DIR: realIdle,
      CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
      PYTHONPATH: "/nonexistent",
    });
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    const details = report.failures.map((f: { rule: string; detail: string }) => `${f.rule}: ${f.detail}`);
    expect(details).toContain(
      "bandwidth: the copy test could not run: the bandwidth check could not measure: PyTorch is not importable (No module named 'torch'); run this inside the baseline image",
    );
    // The all-reduce is not tried where the copy test could not run (the next test runs it).
    expect(details.filter((d: string) => d.startsWith("all-reduce"))).toEqual([]);
    expect(details.join("\n")).not.toMatch(/not found/);
    expect(readdirSync(pod)).toEqual(["cacheon-agent.mjs"]);
  });

  it("measures through both scripts and applies the profile (PyTorch's GPU calls stood in for)", async () => {
    const profile = join(tmp, "h200x4-no-docker.yaml");
    writeFileSync(
      profile,
      "extends: h200x4\nrequireNvidiaContainerRuntime: false\nminDockerDiskFreeGib: 0\n",
    );
    const { code, stdout, stderr } = await agent(hardware(profile), {
      NVSMI_FIXTURE_DIR: realIdle,
      CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
      PYTHONPATH: join(fixtures, "fake-torch"),
      FAKE_GPUS: "4",
    });
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.bandwidth.pairs).toHaveLength(12);
    expect(report.bandwidth.allReduce.ranks).toBe(4);
    expect(report.fingerprint.nvidiaSmiReplay).toBe(true);
    expect(report.findings.map((f: { rule: string }) => f.rule)).toEqual(["nvidia-smi-replay"]);
    expect(Number(report.durationMs)).toBeGreaterThan(0);
    // The stand-in's simulated links give the configured speeds back through both scripts (the copy
    // is timed on the host, so a busy machine only makes it read slower).
    for (const pair of report.bandwidth.pairs) {
      expect(pair.gbPerS).toBeGreaterThan(100);
      expect(pair.gbPerS).toBeLessThanOrEqual(390.5);
    }
    expect(report.bandwidth.allReduce.sizes.at(-1).busGbPerS).toBeCloseTo(350, 0);
    expect(readdirSync(pod)).toEqual(["cacheon-agent.mjs"]);

    // A copy no NVLink can carry (a forged or unsynchronised figure) fails the profile.
    const forged = await agent(hardware(profile), {
      NVSMI_FIXTURE_DIR: realIdle,
      CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
      PYTHONPATH: join(fixtures, "fake-torch"),
      FAKE_GPUS: "4",
      FAKE_COPY_GB_PER_S: "20000000",
    });
    expect(forged.code).toBe(1);
    const refused = JSON.parse(forged.stdout).failures.map((f: { rule: string }) => f.rule);
    expect(refused).toContain("bandwidth-implausible");
  });

  it("samples GPU activity", async () => {
    const { code, stdout } = await agent(
      ["gpu-activity", "--seconds", "0.5", "--interval-ms", "100", "--nvidia-smi", replay, "--json"],
      { NVSMI_FIXTURE_DIR: join(fixtures, "nvidia-smi", "nvidia-h200-x4-real", "busy") },
    );
    expect(code).toBe(0);
    const activity = JSON.parse(stdout);
    expect(activity.gpus.map((g: { pids: number[] }) => g.pids)).toEqual([[2463], [2464], [], []]);
  });
});
