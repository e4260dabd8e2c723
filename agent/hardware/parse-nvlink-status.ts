import { create } from "@bufbuild/protobuf";
import { type NvLink, NvLinkSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { stripAnsi } from "./xml-tree.ts";

/** One GPU's block of `nvidia-smi nvlink -s`. */
export interface NvlinkGpuStatus {
  /** GPU index from the block header. */
  index: number;
  /** UUID from the block header; "" when absent. */
  uuid: string;
  /** Links in output order; inactive links have `active: false` and speed 0. */
  links: NvLink[];
}

/** What `nvidia-smi nvlink -s` said. */
export interface NvlinkStatus {
  /** By GPU index. A GPU without NVLink prints no block, so it is absent here. */
  gpus: Map<number, NvlinkGpuStatus>;
  /** Lines that were neither a GPU header nor a link line. */
  problems: string[];
}

const gpuHeader = /^GPU (\d+):.*?(?:\(UUID: (GPU-[0-9a-fA-F-]+)\))?\s*$/;
const linkLine = /^Link (\d+): (.*)$/;

/**
 * Parses `nvidia-smi nvlink -s`: per GPU, each link's state and speed. `Link 3: <inactive>`
 * and any other non-speed text mean inactive. Pure; never throws.
 */
export function parseNvlinkStatus(text: string): NvlinkStatus {
  const gpus = new Map<number, NvlinkGpuStatus>();
  const problems: string[] = [];
  let current: NvlinkGpuStatus | undefined;
  for (const raw of stripAnsi(text).split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const header = gpuHeader.exec(line);
    if (header?.[1]) {
      current = { index: Number(header[1]), uuid: header[2] ?? "", links: [] };
      if (gpus.has(current.index)) problems.push(`nvlink -s lists GPU ${current.index} twice`);
      gpus.set(current.index, current);
      continue;
    }
    const link = linkLine.exec(line);
    if (link?.[1] !== undefined && current) {
      const speed = /^(\d+(?:\.\d+)?)\s*GB\/s$/.exec(link[2]?.trim() ?? "");
      current.links.push(
        create(NvLinkSchema, {
          link: Number(link[1]),
          active: speed !== null,
          speedGbPerS: speed?.[1] ? Number(speed[1]) : 0,
        }),
      );
      continue;
    }
    problems.push(`nvlink -s: unexpected line "${line.slice(0, 80)}"`);
  }
  return { gpus, problems };
}
