import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseNvlinkStatus } from "./parse-nvlink-status.ts";
import { parseTopologyMatrix } from "./parse-topology-matrix.ts";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "nvidia-smi");
const read = (...path: string[]) => readFileSync(join(fixtures, ...path), "utf8");

describe("parseTopologyMatrix", () => {
  it("reads the real 2x H200 matrix with its ANSI header: NV18 and affinity", () => {
    const topo = parseTopologyMatrix(read("h200-x2", "topo.txt"));
    expect(topo.problems).toEqual([]);
    expect(topo.gpuIndices).toEqual([0, 1]);
    expect(topo.links.map((l) => [l.gpuA, l.gpuB, l.connection])).toEqual([[0, 1, "NV18"]]);
    expect(topo.affinity.get(0)).toEqual({ cpuAffinity: "0-31", numaNode: 0 });
    expect(topo.affinity.get(1)).toEqual({ cpuAffinity: "0-31", numaNode: 0 });
  });

  it("reads the derived 8-GPU matrix: 28 NV18 pairs, two NUMA nodes", () => {
    const topo = parseTopologyMatrix(read("h200x8-healthy", "topo.txt"));
    expect(topo.problems).toEqual([]);
    expect(topo.links).toHaveLength(28);
    expect(new Set(topo.links.map((l) => l.connection))).toEqual(new Set(["NV18"]));
    expect(topo.affinity.get(7)).toEqual({ cpuAffinity: "48-95,144-191", numaNode: 1 });
  });

  it("ignores NIC columns and rows", () => {
    const text =
      "\tGPU0\tGPU1\tNIC0\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\nGPU0\t X \tNV18\tPXB\t0-47\t0\t\tN/A\nGPU1\tNV18\t X \tSYS\t0-47\t0\t\tN/A\nNIC0\tPXB\tSYS\t X \n\nLegend:\n";
    const topo = parseTopologyMatrix(text);
    expect(topo.problems).toEqual([]);
    expect(topo.links.map((l) => l.connection)).toEqual(["NV18"]);
  });

  it("reports an asymmetric matrix, a short row and N/A affinity", () => {
    const text =
      "\tGPU0\tGPU1\tGPU2\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tNV18\tNV18\tN/A\tN/A\nGPU1\tNV12\t X \tNV18\t0-1\t0\nGPU2\tNV18\n";
    const topo = parseTopologyMatrix(text);
    expect(topo.affinity.get(0)).toEqual({ cpuAffinity: "", numaNode: -1 });
    expect(topo.problems).toContain("topo -m is not symmetric: GPU0->GPU1 NV18, GPU1->GPU0 NV12");
    expect(topo.problems).toContain("topo -m row GPU2 has 1 cells for 5 columns");
    expect(topo.problems).toHaveLength(2);
    expect(topo.links.find((l) => l.gpuA === 1 && l.gpuB === 2)?.connection).toBe("NV18");
  });

  it("gives no GPUs and a problem for empty or foreign text", () => {
    for (const text of [
      "",
      "Failed to initialize NVML: Driver/library version mismatch",
      "GPU0\t X \tNV18",
    ]) {
      const topo = parseTopologyMatrix(text);
      expect(topo.gpuIndices).toEqual([]);
      expect(topo.problems).toEqual(["topo -m printed no matrix header (GPU0 GPU1 ...)"]);
    }
  });
});

describe("parseNvlinkStatus", () => {
  it("reads 18 links at 26.562 GB/s for each GPU of the real capture", () => {
    const status = parseNvlinkStatus(read("h200-x2", "nvlink_s.txt"));
    expect(status.problems).toEqual([]);
    expect([...status.gpus.keys()]).toEqual([0, 1]);
    for (const gpu of status.gpus.values()) {
      expect(gpu.links).toHaveLength(18);
      expect(gpu.links.every((l) => l.active && l.speedGbPerS === 26.562)).toBe(true);
    }
    expect(status.gpus.get(1)?.uuid).toBe("GPU-fcafd754-641c-8e39-0b5f-ed72555c0a35");
  });

  it("marks <inactive> and other non-speed text as inactive with speed 0", () => {
    const status = parseNvlinkStatus(
      "GPU 0: NVIDIA H200 (UUID: GPU-a)\n\t Link 0: <inactive>\n\t Link 1: 13.281 GB/s\n\t Link 2: N/A\n",
    );
    expect(status.gpus.get(0)?.links.map((l) => [l.link, l.active, l.speedGbPerS])).toEqual([
      [0, false, 0],
      [1, true, 13.281],
      [2, false, 0],
    ]);
  });

  it("gives no GPUs for empty output (a GPU without NVLink prints nothing)", () => {
    expect(parseNvlinkStatus("").gpus.size).toBe(0);
  });

  it("reports lines it does not understand and a GPU listed twice", () => {
    const status = parseNvlinkStatus("Link 0: 26.562 GB/s\nGPU 0: X\nGPU 0: X\n\u001b[31mgarbage\u001b[0m\n");
    expect(status.problems).toEqual([
      'nvlink -s: unexpected line "Link 0: 26.562 GB/s"',
      "nvlink -s lists GPU 0 twice",
      'nvlink -s: unexpected line "garbage"',
    ]);
  });
});
