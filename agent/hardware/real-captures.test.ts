import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { bandwidthFailures, parseAllReduceOutput, parseBandwidthOutput } from "./bandwidth-check.ts";
import { parseNvlinkStatus } from "./parse-nvlink-status.ts";
import { probeHardware } from "./probe-hardware.ts";
import { loadHardwareProfile } from "./profiles.ts";
import { waitForGpuIdle } from "./wait-for-gpu-idle.ts";
import { parseXml, type XmlElement } from "./xml-tree.ts";

// Captured by test/fixtures/nvidia-smi/capture-real-bundle.sh on the device tool's nvidia-h200-x4
// and nvidia-h200-x2 machines (2026-11-28), the built bundle and Node 24 alone in a fresh folder.
const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const x4 = join(fixtures, "nvidia-h200-x4-real");
const x2 = join(fixtures, "nvidia-h200-x2-real");
const x1 = join(fixtures, "nvidia-h200-x1-real");
const replay = join(fixtures, "nvidia-smi-replay");
const tmp = mkdtempSync(join(tmpdir(), "cacheon-hw-real-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const read = (...path: string[]) => readFileSync(join(...path), "utf8");

const probe = (dir: string, profile: string) =>
  probeHardware({
    profile: loadHardwareProfile(profile),
    nvidiaSmiPath: replay,
    env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: dir },
    collectHost: false,
    preloadFilePath: join(tmp, "no-ld.so.preload"),
    ldconfigOutput: "",
    allowNvidiaSmiReplay: true,
  });
const rules = (report: Awaited<ReturnType<typeof probe>>) =>
  report.failures.map((f) => `${f.rule} [${f.subject}]`);

describe("the real 4x H200 capture", () => {
  it("is NV18 on all 6 pairs, 18 links per GPU at 26.562 GB/s, fabric Completed/Success, and meets h200x4", async () => {
    const report = await probe(join(x4, "idle"), "h200x4");
    expect(rules(report)).toEqual([]);
    expect(report.links.map((l) => `${l.gpuA}-${l.gpuB} ${l.connection}`)).toEqual([
      "0-1 NV18",
      "0-2 NV18",
      "0-3 NV18",
      "1-2 NV18",
      "1-3 NV18",
      "2-3 NV18",
    ]);
    for (const gpu of report.gpus) {
      expect(gpu.nvlinks.map((l) => l.speedGbPerS)).toEqual(Array(18).fill(26.562));
      expect([gpu.fabricState, gpu.fabricStatus, gpu.name]).toEqual(["Completed", "Success", "NVIDIA H200"]);
      expect(gpu.memoryTotalMib).toBe(143771n);
    }
    expect(rules(await probe(join(x4, "idle"), "h200x8"))).toEqual(["gpu-count [host]"]);
  });

  it("refuses the busy capture for both foreign processes, the computing one and the sleeping one", async () => {
    const report = await probe(join(x4, "busy"), "h200x4");
    expect(report.failures.map((f) => [f.rule, f.subject, f.detail])).toEqual([
      ["gpu-processes", "gpu 0", "in use by pid 2463 python3 (9196 MiB): another workload shares this GPU"],
      ["gpu-processes", "gpu 1", "in use by pid 2464 python3 (8842 MiB): another workload shares this GPU"],
    ]);
  });

  it("passes the idle gate idle, and fails it busy naming the computing GPU and the one a sleeping process holds", async () => {
    const gate = (dir: string, timeoutMs: number) =>
      waitForGpuIdle({
        profile: "h200x4",
        nvidiaSmiPath: replay,
        env: { PATH: process.env.PATH, NVSMI_FIXTURE_DIR: dir },
        samples: 2,
        intervalMs: 10,
        timeoutMs,
      });
    expect(await gate(join(x4, "idle"), 20_000)).toMatchObject({ idle: true, samplesTaken: 2, reasons: [] });
    const busy = await gate(join(x4, "busy"), 500);
    expect(busy.idle).toBe(false);
    expect(busy.reasons).toEqual([
      "gpu 0: 98% busy > 5%",
      "gpu 0: 9205 MiB in use > 1024 MiB (pid 2463 python3)",
      "gpu 1: 8851 MiB in use > 1024 MiB (pid 2464 python3)",
    ]);
  });

  it("holds the bundle's own reports from the machine, readable with today's contract", () => {
    const report = (name: string) => fromJson(HardwareReportSchema, JSON.parse(read(x4, name)));
    const main = report("hardware.json");
    expect(main.ok).toBe(true);
    expect(main.fingerprint?.knownDriverBuild).toBe(true);
    expect(main.fingerprint?.nvidiaSmiReplay).toBe(false);
    expect(main.bandwidth?.pairs).toHaveLength(12);
    expect(Math.min(...(main.bandwidth?.pairs.map((p) => p.gbPerS) ?? []))).toBeGreaterThan(390);
    expect(main.bandwidth?.allReduce?.ranks).toBe(4);
    expect(main.bandwidth?.allReduce?.sizes.map((s) => s.bytes)).toEqual([
      67108864n,
      268435456n,
      1073741824n,
    ]);
    expect(main.bandwidth?.allReduce?.sizes.at(-1)?.busGbPerS).toBeCloseTo(353.531, 3);
    expect(Number(main.durationMs)).toBeGreaterThan(10_000);
    const failed = (name: string) => report(name).failures.map((f) => `${f.rule} [${f.subject}]`);
    expect(failed("hardware-wrapper.json")).toEqual(["nvidia-smi-binary [host]"]);
    expect(failed("hardware-preload.json")).toEqual(["loader-override [env LD_PRELOAD]"]);
    expect(failed("hardware-busy.json")).toEqual(["gpu-processes [gpu 0]", "gpu-processes [gpu 1]"]);
  });

  it("gives all-reduce figures that pass h200x4 and fail when 20% slower", () => {
    const [four, two] = read(x4, "all-reduce.jsonl").trim().split("\n");
    const check = parseAllReduceOutput(four ?? "", 283);
    expect(check).toMatchObject({ ok: true, ranks: 4, ncclVersion: "2.28.9" });
    expect(check.sizes.map((s) => Math.round(s.busGbPerS))).toEqual([306, 337, 355]);
    expect(parseAllReduceOutput(two ?? "", 263)).toMatchObject({ ok: true, ranks: 2 });
    const slower = (four ?? "").replace('"bus_gb_per_s": 354.891', '"bus_gb_per_s": 283.9');
    expect(parseAllReduceOutput(slower, 283).ok).toBe(true);
    const slow = (four ?? "").replace('"bus_gb_per_s": 354.891', '"bus_gb_per_s": 282.9');
    const failing = parseAllReduceOutput(slow, 283);
    expect(failing.ok).toBe(false);
    const copy = parseBandwidthOutput(read(x4, "bandwidth.jsonl"), 315);
    expect(
      bandwidthFailures({ ...copy, allReduce: failing }, loadHardwareProfile("h200x4")).map((f) => f.rule),
    ).toEqual(["all-reduce"]);
  });

  it("refuses copy and all-reduce figures no NVLink fabric can carry (a timer without a sync, or a forgery)", () => {
    const profile = loadHardwareProfile("h200x4");
    const copy = parseBandwidthOutput(read(x4, "bandwidth.jsonl"), 315);
    const [four] = read(x4, "all-reduce.jsonl").trim().split("\n");
    const allReduce = parseAllReduceOutput(four ?? "", 283);
    // The real figures sit below 18 links x 26.562 GB/s (478 GB/s) and pass.
    expect(bandwidthFailures({ ...copy, allReduce }, profile)).toEqual([]);
    const [first, ...rest] = copy.pairs;
    const forged = { ...copy, pairs: [{ ...first, gbPerS: 20_000_000 }, ...rest] } as typeof copy;
    expect(
      bandwidthFailures({ ...forged, allReduce }, profile).map((f) => `${f.rule} [${f.subject}]`),
    ).toEqual([`bandwidth-implausible [gpu ${first?.src}->${first?.dst}]`]);
    const fast = parseAllReduceOutput(
      (four ?? "").replace('"bus_gb_per_s": 354.891', '"bus_gb_per_s": 900'),
      283,
    );
    expect(bandwidthFailures({ ...copy, allReduce: fast }, profile)).toEqual([
      expect.objectContaining({
        rule: "bandwidth-implausible",
        detail: expect.stringMatching(/900\.0 GB\/s, above what 18 NVLinks/),
      }),
    ]);
    // Just under the ceiling (478.1 x 1.25 = 597.6 GB/s) is still a fast machine, not a forgery.
    const under = { ...copy, pairs: copy.pairs.map((p) => ({ ...p, gbPerS: 597 })) } as typeof copy;
    expect(bandwidthFailures(under, profile)).toEqual([]);
    // No NVLinks in the profile, no ceiling to judge by.
    expect(bandwidthFailures(forged, loadHardwareProfile("none"))).toEqual([]);
  });

  it("gives copy figures of every ordered pair above 315 GB/s", () => {
    const check = parseBandwidthOutput(read(x4, "bandwidth.jsonl"), 315);
    expect(check.ok).toBe(true);
    expect(check.pairs).toHaveLength(12);
  });
});

describe("the real 2x H200 capture", () => {
  it("meets a 2-GPU profile on the idle capture and names both processes on the busy one", async () => {
    const { writeFileSync } = await import("node:fs");
    const file = join(tmp, "h200x2.yaml");
    writeFileSync(file, "extends: h200x8\ngpuCount: 2\nminAllReduceBusGbPerS: 263\n");
    expect(rules(await probe(join(x2, "idle"), file))).toEqual([]);
    expect(rules(await probe(join(x2, "busy"), file))).toEqual([
      "gpu-processes [gpu 0]",
      "gpu-processes [gpu 1]",
    ]);
  });
});

/** Every element path under one GPU element, e.g. "fabric/state": the shape nvidia-smi prints. */
function paths(element: XmlElement, prefix = ""): string[] {
  return element.children.flatMap((c) => [`${prefix}${c.name}`, ...paths(c, `${prefix}${c.name}/`)]);
}

describe("the derived 8-GPU fixtures against the real 4-GPU capture (issue 20: confirm what 4 GPUs show)", () => {
  it("nvlink -s: the same header and link lines", () => {
    const shape = (text: string) =>
      [
        ...new Set(text.split("\n").map((l) => l.replace(/GPU-[0-9a-f-]+/, "UUID").replace(/\d+/g, "N"))),
      ].sort();
    expect(shape(read(fixtures, "h200x8-healthy", "nvlink_s.txt"))).toEqual(
      shape(read(x4, "idle", "nvlink_s.txt")),
    );
    const status = parseNvlinkStatus(read(x4, "idle", "nvlink_s.txt"));
    expect(status.problems).toEqual([]);
    expect([...status.gpus.keys()]).toEqual([0, 1, 2, 3]);
  });

  it("topo -m: the same header (with its ANSI underline) and row layout", () => {
    const rows = (text: string) =>
      text
        .split("\nLegend:")[0]
        ?.split("\n")
        .map((l) =>
          l
            .replace(/\tNV18|\t X /g, "")
            .replace(/(\tGPU\d)+/g, "\tGPUS")
            .replace(/GPU\d/g, "GPU")
            .replace(/\t[\d,-]+\t\d\t\tN\/A$/, "\tAFF"),
        );
    const real = rows(read(x4, "idle", "topo.txt"));
    const derived = rows(read(fixtures, "h200x8-healthy", "topo.txt"));
    expect(new Set(derived)).toEqual(new Set(real));
    expect(read(x4, "idle", "topo.txt").split("\nLegend:")[1]).toBe(
      read(fixtures, "h200x8-healthy", "topo.txt").split("\nLegend:")[1],
    );
  });

  it("-q -x: every GPU element has the same elements as the derived ones", () => {
    const gpuPaths = (dir: string) => {
      const root = parseXml(read(dir, "q.xml")).root;
      return (root?.children.filter((c) => c.name === "gpu") ?? []).map((g) => paths(g).join("\n"));
    };
    const real = gpuPaths(join(x4, "idle"));
    const derived = gpuPaths(join(fixtures, "h200x8-healthy"));
    expect(real).toHaveLength(4);
    expect(derived).toHaveLength(8);
    for (const gpu of [...real, ...derived]) expect(gpu).toBe(real[0]);
  });
});

describe("the real 1x H200 run (the lead's bundle smoke run, see its README)", () => {
  const report = (name: string) => fromJson(HardwareReportSchema, JSON.parse(read(x1, name)));

  it("copies within its one GPU through HBM, a figure the NVLink ceiling leaves alone", () => {
    const { bandwidth } = report("hardware-bandwidth.json");
    expect(bandwidth?.pairs.map((p) => [p.src, p.dst, Math.round(p.gbPerS)])).toEqual([[0, 0, 2109]]);
    const oneGpu = { ...loadHardwareProfile("h200x8"), gpuCount: 1, minBandwidthGbPerS: 315 };
    expect(bandwidth && bandwidthFailures(bandwidth, oneGpu)).toEqual([]);
    // The same figure between two GPUs is no NVLink's.
    const across = { ...bandwidth, pairs: [{ ...bandwidth?.pairs[0], dst: 1 }] } as NonNullable<
      typeof bandwidth
    >;
    expect(bandwidthFailures(across, oneGpu).map((f) => f.rule)).toEqual(["bandwidth-implausible"]);
  });

  it("names the real process holding the GPU, and the sampler saw it busy at full power", () => {
    const busy = report("hardware-busy.json").failures.find((f) => f.rule === "gpu-processes");
    expect(busy?.detail).toMatch(/in use by pid \d+ python3/);
    const samples = (name: string) =>
      (JSON.parse(read(x1, name)) as { samples: { utilizationPercent: number; powerW: number }[] }).samples;
    expect(Math.min(...samples("gpu-activity-busy.json").map((s) => s.utilizationPercent))).toBeGreaterThan(
      90,
    );
    expect(Math.max(...samples("gpu-activity-idle.json").map((s) => s.utilizationPercent))).toBe(0);
  });
});
