import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const fixtures = join(root, "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// The pod's host rules (Docker, NVIDIA runtime, disk) cannot hold on this CI machine.
const podProfile = join(tmp, "h200x8-no-host.yaml");
writeFileSync(podProfile, "extends: h200x8\nrequireNvidiaContainerRuntime: false\nminDockerDiskFreeGib: 0\n");

/** Runs `cacheon-agent hardware` as a real process. */
function agent(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [join(root, "agent", "cli", "main.ts"), "hardware", ...args],
      {
        // The replay is a script: allowed on purpose, as tests must (see the refusal test below).
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/",
          CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1",
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

describe("cacheon-agent hardware (real process, replayed nvidia-smi)", () => {
  it("refuses the replay, a script in front of nvidia-smi, unless the setting allows it", async () => {
    const { code, stdout } = await agent(["--profile", podProfile, "--nvidia-smi", replay, "--no-docker"], {
      NVSMI_FIXTURE_DIR: join(fixtures, "h200x8-healthy"),
      CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "",
    });
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL nvidia-smi-binary \[host\]: .*nvidia-smi-replay is not an ELF executable/);
    const allowed = await agent(["--profile", podProfile, "--nvidia-smi", replay, "--no-docker"], {
      NVSMI_FIXTURE_DIR: join(fixtures, "h200x8-healthy"),
    });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(
      /NOTE nvidia-smi-replay \[host\]: .*this report proves nothing about real GPUs/,
    );
  });

  it("exits 0 with ok JSON for the healthy 8-GPU case", async () => {
    const { code, stdout } = await agent(
      ["--profile", podProfile, "--nvidia-smi", replay, "--json", "--no-docker"],
      {
        NVSMI_FIXTURE_DIR: join(fixtures, "h200x8-healthy"),
      },
    );
    const report = JSON.parse(stdout);
    expect(report.failures).toEqual([]);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.gpus).toHaveLength(8);
    expect(report.links).toHaveLength(28);
    expect(report.gpus[0].nvlinks).toHaveLength(18);
  });

  it("exits 1 for the real 2x H200 capture with the gpu-count failure in JSON", async () => {
    const { code, stdout } = await agent(
      ["--profile", podProfile, "--nvidia-smi", replay, "--json", "--no-docker"],
      {
        NVSMI_FIXTURE_DIR: join(fixtures, "h200-x2"),
      },
    );
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([
      { rule: "gpu-count", subject: "host", detail: "found 2 GPU(s), the profile needs exactly 8" },
    ]);
  });

  it("exits 1 with LD_PRELOAD set, and names it in the human output", async () => {
    const { code, stdout } = await agent(["--profile", podProfile, "--nvidia-smi", replay, "--no-docker"], {
      NVSMI_FIXTURE_DIR: join(fixtures, "h200x8-healthy"),
      LD_PRELOAD: join(tmp, "libnot-there.so"),
    });
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL loader-override \[env LD_PRELOAD\]/);
  });

  it("exits 2 when nvidia-smi is missing or fails", async () => {
    const missing = await agent(["--nvidia-smi", join(tmp, "nope"), "--no-docker"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nvidia-smi not found/);
    const failing = await agent(["--nvidia-smi", replay, "--no-docker"], {
      NVSMI_FIXTURE_DIR: join(tmp, "empty"),
    });
    expect(failing.code).toBe(2);
    expect(failing.stderr).toMatch(/exit code 9/);
  });

  it("exits 2 for an unknown profile or flag, 0 for --help", async () => {
    expect((await agent(["--profile", "h300x8"])).code).toBe(2);
    expect((await agent(["--frobnicate"])).code).toBe(2);
    const help = await agent(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 the machine meets the profile/);
  });

  it("exits 0 for profile none on a machine without nvidia-smi", async () => {
    const { code, stdout } = await agent([
      "--profile",
      "none",
      "--nvidia-smi",
      join(tmp, "nope"),
      "--json",
      "--no-docker",
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, profile: "none", gpus: [], failures: [] });
  });
});
