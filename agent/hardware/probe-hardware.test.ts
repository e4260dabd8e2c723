import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { BandwidthRunner } from "./bandwidth-check.ts";
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
    // The replay is a script: accepted here on purpose, and the report says so.
    allowNvidiaSmiReplay: true,
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
      allowNvidiaSmiReplay: true,
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
  // The real 2x H200 all-reduce (device tool, nvidia-h200-x2): 327.4 GB/s bus bandwidth at 1 GiB.
  const allReduce2 =
    readFileSync(join(fixtures, "nvidia-h200-x2-real", "all-reduce.jsonl"), "utf8").split("\n")[0] ?? "";
  const scripts =
    (copy: string, reduce = allReduce2): BandwidthRunner =>
    async ({ script }) =>
      script === "gpu_copy_bandwidth.py" ? copy : reduce;
  const twoGpuProfile = join(tmp, "h200x2-bandwidth.json");
  writeFileSync(
    twoGpuProfile,
    JSON.stringify({ extends: "h200x8", gpuCount: 2, minAllReduceBusGbPerS: 263 }),
  );

  it("passes the real 2x H200 figures against the 315 GB/s copy and 263 GB/s all-reduce thresholds", async () => {
    const report = await probeWith(join(fixtures, "h200-x2"), {
      profile: twoGpuProfile,
      runBandwidthCheck: scripts(first),
    });
    expect(report.bandwidth?.allReduce?.ranks).toBe(2);
    expect(report.bandwidth?.allReduce?.sizes.at(-1)?.busGbPerS).toBeCloseTo(327.388, 3);
    expect(report.bandwidth?.allReduce?.ok).toBe(true);
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
    const withSlow = await probeWith(join(fixtures, "h200-x2"), {
      profile: twoGpuProfile,
      runBandwidthCheck: scripts(slow),
    });
    expect(withSlow.failures.map((f) => [f.rule, f.subject])).toEqual([["bandwidth", "gpu 0->1"]]);
    const broken = await probeWith(join(fixtures, "h200-x2"), {
      profile: twoGpuProfile,
      runBandwidthCheck: async () => '{"ok": false, "error": "CUDA is not available to PyTorch"}',
    });
    // The all-reduce is not tried where the copy test could not run: it would fail the same way.
    expect(broken.failures.map((f) => [f.rule, f.detail])).toEqual([
      [
        "bandwidth",
        "the copy test could not run: the bandwidth check could not measure: CUDA is not available to PyTorch",
      ],
    ]);
  });

  it("refuses a slow all-reduce (a degraded fabric that still copies pair by pair) and one across too few GPUs", async () => {
    const slowReduce = allReduce2.replace('"bus_gb_per_s": 327.388', '"bus_gb_per_s": 250.1');
    const report = await probeWith(join(fixtures, "h200-x2"), {
      profile: twoGpuProfile,
      runBandwidthCheck: scripts(first, slowReduce),
    });
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => [f.rule, f.subject, f.detail])).toEqual([
      [
        "all-reduce",
        "gpu 0-1",
        "NCCL all-reduce bus bandwidth 250.1 GB/s at 1 GiB, the profile needs 263 GB/s: a slow or degraded NVLink/NVSwitch fabric",
      ],
    ]);
    const eightGpuProfile = join(tmp, "h200x8-no-host.json");
    writeFileSync(eightGpuProfile, JSON.stringify({ extends: "h200x8", minAllReduceBusGbPerS: 263 }));
    const partial = await probeWith(join(fixtures, "h200x8-healthy"), {
      profile: eightGpuProfile,
      runBandwidthCheck: scripts(first),
    });
    expect(partial.failures.map((f) => f.detail)).toContain(
      "the all-reduce ran across 2 GPU(s), the profile needs 8: it did not measure every GPU",
    );
  });
});

describe("probeHardware fails closed (what a provider paid for a bad machine would try)", () => {
  const real = join(fixtures, "nvidia-h200-x4-real", "idle");
  /** The real 4x H200 capture with one GPU's q.xml block edited: `from` must occur in that block. */
  const edited = (name: string, gpu: number, edits: [string | RegExp, string][]) => {
    const dir = join(tmp, name);
    cpSync(real, dir, { recursive: true });
    const xml = readFileSync(join(dir, "q.xml"), "utf8");
    const blocks = xml.split("\t<gpu id=");
    let block = blocks[gpu + 1] ?? "";
    for (const [from, to] of edits) {
      const next = block.replace(from, to);
      if (next === block) throw new Error(`${String(from)} not in gpu ${gpu}`);
      block = next;
    }
    blocks[gpu + 1] = block;
    writeFileSync(join(dir, "q.xml"), blocks.join("\t<gpu id="));
    return dir;
  };
  const on = (dir: string) => probeWith(dir, { profile: "h200x4" });

  it("meets h200x4 on the untouched real capture, every value readable but Hopper's retired pages", async () => {
    const report = await on(real);
    expect(report.failures).toEqual([]);
    expect(report.gpus.map((g) => g.unreadable)).toEqual([
      ["retired_pages"],
      ["retired_pages"],
      ["retired_pages"],
      ["retired_pages"],
    ]);
  });

  it("refuses an [N/A] volatile ECC counter: N/A is not 0", async () => {
    const report = await on(
      edited("na-ecc", 2, [
        [/<volatile>([\s\S]*?)<dram_uncorrectable>0</, "<volatile>$1<dram_uncorrectable>[N/A]<"],
      ]),
    );
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => [f.rule, f.subject, f.detail])).toEqual([
      [
        "ecc-errors",
        "gpu 2",
        "the volatile uncorrected ECC count is unreadable (nvidia-smi printed N/A or nothing): it cannot be shown to be healthy, and N/A is not 0",
      ],
    ]);
    expect(report.gpus[2]?.unreadable).toContain("ecc_errors.volatile");
  });

  it("refuses ECC mode and row remapping nvidia-smi cannot read", async () => {
    const report = await on(
      edited("na-ecc-mode", 1, [
        ["<current_ecc>Enabled</current_ecc>", "<current_ecc>N/A</current_ecc>"],
        [
          "<remapped_row_pending>No</remapped_row_pending>",
          "<remapped_row_pending>[Unknown Error]</remapped_row_pending>",
        ],
      ]),
    );
    expect(rulesOf(report)).toEqual(["ecc-on [gpu 1]", "remap-pending [gpu 1]"]);
  });

  it("refuses MIG mode N/A: it is not off", async () => {
    const report = await on(
      edited("na-mig", 3, [["<current_mig>Disabled</current_mig>", "<current_mig>N/A</current_mig>"]]),
    );
    expect(report.failures.map((f) => [f.rule, f.subject])).toEqual([["mig-off", "gpu 3"]]);
    expect(report.failures[0]?.detail).toMatch(/^MIG mode is unreadable/);
  });

  it("refuses a process list nvidia-smi cannot give, and memory in use that no visible process holds", async () => {
    const hidden = await on(
      edited("hidden-tenant", 0, [
        [/<fb_memory_usage>([\s\S]*?)<used>0 MiB<\/used>/, "<fb_memory_usage>$1<used>71234 MiB</used>"],
      ]),
    );
    expect(hidden.failures.map((f) => [f.rule, f.subject, f.detail])).toEqual([
      [
        "gpu-memory-in-use",
        "gpu 0",
        "71234 MiB in use > 1024 MiB with no process visible here: another container or VM holds this GPU",
      ],
    ]);
    const unlisted = await on(
      edited("na-processes", 1, [[/<processes>\s*<\/processes>/, "<processes>N/A</processes>"]]),
    );
    expect(rulesOf(unlisted)).toEqual(["gpu-processes [gpu 1]"]);
  });

  it("refuses a wrapper script in front of nvidia-smi unless a replay is allowed, and the report says which", async () => {
    const wrapper = join(tmp, "wrapper-nvidia-smi");
    // What a provider would install: a script that prints a good capture whatever the GPUs are.
    writeFileSync(wrapper, `#!/bin/sh\nexec "${replay}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    const refused = await probeWith(real, {
      profile: "h200x4",
      nvidiaSmiPath: wrapper,
      allowNvidiaSmiReplay: false,
    });
    expect(refused.ok).toBe(false);
    expect(refused.failures.map((f) => [f.rule, f.subject])).toEqual([["nvidia-smi-binary", "host"]]);
    expect(refused.failures[0]?.detail).toMatch(
      /is not an ELF executable .*run the driver's own nvidia-smi$/,
    );
    expect(refused.fingerprint?.nvidiaSmiReplay).toBe(false);
    // The explicit setting, from the environment as a CLI gets it: accepted, and shown.
    const replayed = await probeWith(real, {
      profile: "h200x4",
      nvidiaSmiPath: wrapper,
      allowNvidiaSmiReplay: undefined,
      extraEnv: { CACHEON_ALLOW_NVIDIA_SMI_REPLAY: "1" },
    });
    expect(replayed.ok).toBe(true);
    expect(replayed.fingerprint?.nvidiaSmiReplay).toBe(true);
    expect(replayed.findings.map((f) => f.rule)).toEqual(["nvidia-smi-replay"]);
  });

  it("refuses a Fabric Manager whose version is not the driver's", async () => {
    const bin = join(tmp, "fm-bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "nv-fabricmanager"),
      "#!/bin/sh\necho 'Fabric Manager version is : 570.133.20'\n",
    );
    chmodSync(join(bin, "nv-fabricmanager"), 0o755);
    const report = await probeWith(real, {
      profile: "h200x4",
      env: { PATH: `${bin}:${process.env.PATH}`, NVSMI_FIXTURE_DIR: real },
    });
    expect(report.fingerprint?.fabricManagerVersion).toBe("570.133.20");
    expect(report.failures.map((f) => [f.rule, f.detail])).toEqual([
      [
        "fabric-manager-version",
        "Fabric Manager 570.133.20 runs with driver 580.159.04: they must be the same version (install nvidia-fabricmanager-580 matching the driver and restart it)",
      ],
    ]);
  });
});
