import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type ProbeHardwareOptions, probeHardware } from "./probe-hardware.ts";
import { sha256File } from "./software-fingerprint.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const replay = join(fixtures, "nvidia-smi-replay");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-probe-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const noPreload = join(tmp, "no-ld.so.preload");

/** Probes a fixture folder (or absolute dir) through the replay tool, as a real child process. */
function probeWith(
  dir: string,
  options: Partial<ProbeHardwareOptions> & { extraEnv?: Record<string, string> } = {},
) {
  const { extraEnv, ...rest } = options;
  return probeHardware({
    profile: "h200x8",
    nvidiaSmiPath: replay,
    env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: dir, ...extraEnv },
    collectHost: false,
    preloadFilePath: noPreload,
    ldconfigOutput: "",
    ...rest,
  });
}
const probe = (folder: string, profile = "h200x8", extraEnv: Record<string, string> = {}) =>
  probeWith(join(fixtures, folder), { profile, extraEnv });

const rulesOf = (report: Awaited<ReturnType<typeof probe>>) =>
  report.failures.map((f) => `${f.rule} [${f.subject}]`);

describe("probeHardware on the real 2x H200 capture", () => {
  it("parses completely and fails h200x8 for the GPU count only", async () => {
    const report = await probe("h200-x2");
    expect(report.gpus).toHaveLength(2);
    expect(report.links.map((l) => l.connection)).toEqual(["NV18"]);
    for (const gpu of report.gpus) {
      expect(gpu.nvlinks).toHaveLength(18);
      expect(gpu.nvlinks.every((l) => l.active && l.speedGbPerS === 26.562)).toBe(true);
      expect(gpu.fabricState).toBe("Completed");
      expect(gpu.numaNode).toBe(0);
      expect(gpu.cpuAffinity).toBe("0-31");
    }
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => [f.rule, f.subject, f.detail])).toEqual([
      ["gpu-count", "host", "found 2 GPU(s), the profile needs exactly 8"],
    ]);
    expect(report.profile).toBe("h200x8");
    expect(report.fingerprint?.driverVersions).toEqual(["580.159.04"]);
    expect(report.fingerprint?.cudaVersion).toBe("13.0");
    expect(report.fingerprint?.nvidiaSmiPath).toBe(replay);
    expect(report.fingerprint?.nvidiaSmiSha256).toBe(await sha256File(replay));
  });

  it("meets a 2-GPU profile file that extends h200x8", async () => {
    const file = join(tmp, "h200x2.yaml");
    writeFileSync(file, "extends: h200x8\ngpuCount: 2\n");
    const report = await probe("h200-x2", file);
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.profile).toBe(file);
  });

  it("parses the fresh capture from the H200 device machine the same way", async () => {
    const report = await probe("h200-x2-firecracker/idle");
    expect(rulesOf(report)).toEqual(["gpu-count [host]"]);
    expect(report.gpus.map((g) => g.nvlinks.filter((l) => l.active).length)).toEqual([18, 18]);
  });

  it("flags the process on the busy device capture", async () => {
    const report = await probe("h200-x2-firecracker/busy");
    expect(rulesOf(report)).toEqual(["gpu-count [host]", "gpu-processes [gpu 0]"]);
  });
});

describe("probeHardware on 8-GPU cases derived from the capture", () => {
  it.each([
    ["h200x8-healthy", []],
    ["h200x8-slow-link", ["nvlink-speed [gpu 3 link 7]"]],
    ["h200x8-inactive-link", ["nvlink-inactive [gpu 5 link 11]"]],
    ["h200x8-gpu-process", ["gpu-processes [gpu 2]"]],
    ["h200x8-mig-on", ["mig-off [gpu 4]"]],
    ["h200x8-fabric-not-ready", ["fabric [gpu 6]"]],
    ["h200x8-mixed-drivers", ["driver-single [gpu 0,1,2,3,4,5,6,7]"]],
    ["h200x8-duplicate-uuid", ["uuid-unique [gpu 0,1]"]],
  ])("%s fails exactly %j", async (folder, expected) => {
    const report = await probe(folder);
    expect(report.gpus).toHaveLength(8);
    expect(report.links).toHaveLength(28);
    expect(rulesOf(report)).toEqual(expected);
    expect(report.ok).toBe(expected.length === 0);
  });

  it("names what failed in the details", async () => {
    const [slow] = (await probe("h200x8-slow-link")).failures;
    expect(slow?.detail).toBe("runs at 13.281 GB/s, the profile needs 26.562 GB/s");
    const [mixed] = (await probe("h200x8-mixed-drivers")).failures;
    expect(mixed?.detail).toMatch(/580\.159\.04 on gpu 0,1,2,3,4,5,6; 570\.133\.20 on gpu 7/);
    const [proc] = (await probe("h200x8-gpu-process")).failures;
    expect(proc?.detail).toMatch(/pid 972 python3 \(21868 MiB\)/);
  });

  it("fails h100x8 for the GPU name and memory of every H200", async () => {
    const report = await probe("h200x8-healthy", "h100x8");
    expect(new Set(report.failures.map((f) => f.rule))).toEqual(new Set(["gpu-name", "gpu-memory"]));
    expect(report.failures).toHaveLength(16);
  });
});

describe("probeHardware anti-spoofing", () => {
  it("refuses LD_PRELOAD", async () => {
    const report = await probe("h200x8-healthy", "h200x8", { LD_PRELOAD: "/tmp/libfake-nvml.so" });
    expect(report.ok).toBe(false);
    expect(rulesOf(report)).toEqual(["loader-override [env LD_PRELOAD]"]);
    expect(report.fingerprint?.loaderOverrides).toEqual(["LD_PRELOAD"]);
  });

  it("refuses LD_AUDIT, an untrusted LD_LIBRARY_PATH and /etc/ld.so.preload entries", async () => {
    const preload = join(tmp, "ld.so.preload");
    writeFileSync(preload, "# comment\n/opt/fake/libnvml-shim.so\n");
    const report = await probeHardware({
      profile: "h200x8",
      nvidiaSmiPath: replay,
      env: {
        PATH: process.env.PATH,
        NVSMI_FIXTURE_DIR: join(fixtures, "h200x8-healthy"),
        LD_AUDIT: "/tmp/audit.so",
        LD_LIBRARY_PATH: "/usr/local/nvidia/lib64:/tmp/shim",
      },
      collectHost: false,
      preloadFilePath: preload,
      ldconfigOutput: "",
    });
    expect(rulesOf(report)).toEqual([
      "loader-override [env LD_AUDIT]",
      "loader-override [env LD_LIBRARY_PATH]",
      "loader-override [/etc/ld.so.preload]",
    ]);
  });

  it("accepts the NVIDIA container's own LD_LIBRARY_PATH seen on the real H200 machine", async () => {
    const report = await probe("h200x8-healthy", "h200x8", {
      LD_LIBRARY_PATH: "/usr/local/nvidia/lib64:/usr/local/nvidia/lib",
    });
    expect(report.ok).toBe(true);
  });
});

describe("probeHardware when it cannot tell", () => {
  it("throws unavailable when nvidia-smi does not exist", async () => {
    const error = await probeHardware({
      profile: "h200x8",
      nvidiaSmiPath: join(tmp, "no-such-nvidia-smi"),
      collectHost: false,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(CacheonError);
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(/nvidia-smi not found .*pass --nvidia-smi PATH/);
  });

  it("throws unavailable when nvidia-smi fails (driver not loaded: exit 9)", async () => {
    const error = await probe("no-such-folder").catch((e) => e);
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(
      /failed with exit code 9: NVIDIA-SMI has failed .*is the NVIDIA driver loaded/,
    );
  });

  it("reports truncated -q -x output as a probe-output failure with the GPUs it could read", async () => {
    const dir = join(tmp, "truncated");
    cpSync(join(fixtures, "h200x8-healthy"), dir, { recursive: true });
    const xml = readFileSync(join(dir, "q.xml"), "utf8");
    writeFileSync(join(dir, "q.xml"), xml.slice(0, Math.floor(xml.length / 2)));
    const report = await probeWith(dir);
    expect(report.ok).toBe(false);
    expect(report.failures.some((f) => f.rule === "probe-output" && /element\(s\) open/.test(f.detail))).toBe(
      true,
    );
    expect(report.gpus.length).toBeGreaterThan(0);
  });

  it("meets profile none with no nvidia-smi at all", async () => {
    const report = await probeHardware({
      profile: "none",
      nvidiaSmiPath: join(tmp, "absent"),
      collectHost: false,
      preloadFilePath: noPreload,
    });
    expect(report.ok).toBe(true);
    expect(report.gpus).toEqual([]);
    expect(report.fingerprint?.nvidiaSmiPath).toBe("");
  });

  it("rejects an unknown profile name", async () => {
    await expect(probe("h200-x2", "h300x8")).rejects.toThrow(/unknown hardware profile "h300x8"/);
  });
});

describe("probeHardware with the bandwidth check", () => {
  const lines = readFileSync(join(fixtures, "h200-x2-firecracker", "bandwidth.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"));
  const first = lines[0] ?? "";
  const twoGpuProfile = join(tmp, "h200x2-bandwidth.json");
  writeFileSync(twoGpuProfile, JSON.stringify({ extends: "h200x8", gpuCount: 2 }));

  it("passes the real 2x H200 figures against the 315 GB/s threshold", async () => {
    const report = await probeWith(join(fixtures, "h200-x2"), {
      profile: twoGpuProfile,
      runBandwidthCheck: async () => first,
    });
    expect(report.bandwidth?.pairs.map((p) => [p.src, p.dst])).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(report.bandwidth?.pairs[0]?.gbPerS).toBeCloseTo(393.277, 3);
    expect(report.bandwidth?.ok).toBe(true);
    expect(report.ok).toBe(true);
  });

  it("fails a pair below the threshold and a check that could not run", async () => {
    const slow = first.replace('"gb_per_s": 393.277', '"gb_per_s": 120.5');
    const report = await probe("h200x8-healthy", "h200x8");
    expect(report.bandwidth).toBeUndefined();
    const withSlow = await probeWith(join(fixtures, "h200x8-healthy"), {
      profile: "h200x8",
      runBandwidthCheck: async () => slow,
    });
    expect(withSlow.failures.map((f) => [f.rule, f.subject])).toEqual([["bandwidth", "gpu 0->1"]]);
    const broken = await probeWith(join(fixtures, "h200x8-healthy"), {
      profile: "h200x8",
      runBandwidthCheck: async () => '{"ok": false, "error": "CUDA is not available to PyTorch"}',
    });
    expect(broken.failures.map((f) => [f.rule, f.detail])).toEqual([
      ["bandwidth", "the bandwidth check could not measure: CUDA is not available to PyTorch"],
    ]);
  });
});
