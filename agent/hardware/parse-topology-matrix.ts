import { create } from "@bufbuild/protobuf";
import { type GpuPairLink, GpuPairLinkSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { valueOrEmpty } from "./nvidia-smi-values.ts";
import { stripAnsi } from "./xml-tree.ts";

/** CPU and NUMA placement of one GPU, from `topo -m`'s affinity columns. */
export interface GpuAffinity {
  /** CPU list, e.g. "0-47,96-143"; "" when N/A. */
  cpuAffinity: string;
  /** NUMA node; -1 when N/A. */
  numaNode: number;
}

/** What `nvidia-smi topo -m` said. */
export interface TopologyMatrix {
  /** GPU indices that have a row, in order. */
  gpuIndices: number[];
  /** One entry per unordered GPU pair (gpuA < gpuB), from the row of the lower index. */
  links: GpuPairLink[];
  /** Affinity per GPU index. */
  affinity: Map<number, GpuAffinity>;
  /** Everything that looked wrong (missing cells, a matrix that is not symmetric). */
  problems: string[];
}

// Cells are tab-separated, sometimes with empty cells (two tabs); some builds pad with spaces.
const splitCells = (line: string) =>
  line
    .split(/\t+| {2,}/)
    .map((cell) => cell.trim())
    .filter((cell) => cell !== "");

/**
 * Parses `nvidia-smi topo -m`: the GPU-by-GPU connection matrix (NIC rows and columns are
 * ignored) and the CPU/NUMA affinity columns. ANSI underline codes in the header are removed.
 * Pure; never throws: text without a matrix gives no GPUs and a problem.
 */
export function parseTopologyMatrix(text: string): TopologyMatrix {
  const lines = stripAnsi(text).split(/\r?\n/);
  const problems: string[] = [];
  // The header's first cell is GPU0 and its second another column name; a row's second is "X".
  const headerIndex = lines.findIndex((line) => {
    const [first, second] = splitCells(line);
    return /^GPU\d+$/.test(first ?? "") && /^(GPU\d+|NIC\d+|CPU Affinity)$/.test(second ?? "");
  });
  const header = headerIndex === -1 ? [] : splitCells(lines[headerIndex] ?? "");
  const result: TopologyMatrix = { gpuIndices: [], links: [], affinity: new Map(), problems };
  if (header.length === 0) {
    problems.push("topo -m printed no matrix header (GPU0 GPU1 ...)");
    return result;
  }
  const cells = new Map<number, Map<string, string>>();
  for (const line of lines.slice(headerIndex + 1)) {
    const match = /^GPU(\d+)\b/.exec(line);
    if (!match?.[1]) {
      if (line.trim() === "" || /^Legend:/.test(line.trim())) break;
      continue;
    }
    const index = Number(match[1]);
    const row = splitCells(line).slice(1);
    if (row.length !== header.length) {
      problems.push(`topo -m row GPU${index} has ${row.length} cells for ${header.length} columns`);
    }
    cells.set(index, new Map(header.map((column, i) => [column, row[i] ?? ""])));
    result.gpuIndices.push(index);
  }
  for (const a of result.gpuIndices) {
    const row = cells.get(a);
    result.affinity.set(a, {
      cpuAffinity: valueOrEmpty(row?.get("CPU Affinity")),
      numaNode: numaOf(row?.get("NUMA Affinity")),
    });
    for (const b of result.gpuIndices) {
      if (b <= a) continue;
      const ab = row?.get(`GPU${b}`) ?? "";
      const ba = cells.get(b)?.get(`GPU${a}`) ?? "";
      if (!ab) problems.push(`topo -m has no cell for GPU${a} to GPU${b}`);
      if (ab && ba && ab !== ba)
        problems.push(`topo -m is not symmetric: GPU${a}->GPU${b} ${ab}, GPU${b}->GPU${a} ${ba}`);
      result.links.push(create(GpuPairLinkSchema, { gpuA: a, gpuB: b, connection: ab }));
    }
  }
  return result;
}

function numaOf(text: string | undefined): number {
  const value = valueOrEmpty(text);
  return /^\d+$/.test(value) ? Number(value) : -1;
}
