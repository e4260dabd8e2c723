import { create } from "@bufbuild/protobuf";
import type Dockerode from "dockerode";
import si from "systeminformation";
import { type HostInfo, HostInfoSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { silentLogger } from "../../shared/log/logger.ts";

/** Options of {@link collectHostFacts}. */
export interface CollectHostFactsOptions {
  /** Docker engine to ask; Docker facts stay empty when undefined or when it does not answer. */
  docker?: Dockerode | undefined;
  /** @default silentLogger */
  logger?: Logger;
}

/** Docker's answer to GET /info, as far as the probe reads it. */
export interface DockerInfoFacts {
  ServerVersion?: string;
  Runtimes?: Record<string, unknown>;
  DockerRootDir?: string;
  DiscoveredDevices?: { Source?: string; ID?: string }[];
}

/** True when Docker can hand GPUs to containers: an "nvidia" runtime or CDI nvidia.com/gpu devices. Pure. */
export function hasNvidiaContainerRuntime(info: DockerInfoFacts): boolean {
  if (info.Runtimes && Object.keys(info.Runtimes).some((name) => name.startsWith("nvidia"))) return true;
  return (info.DiscoveredDevices ?? []).some((d) => (d.ID ?? "").startsWith("nvidia.com/gpu"));
}

/** Free bytes of the mounted file system holding `path` (longest mount prefix). Pure. */
export function freeBytesFor(path: string, mounts: { mount: string; available: number }[]): number {
  let best: { mount: string; available: number } | undefined;
  for (const m of mounts) {
    const prefix = m.mount.endsWith("/") ? m.mount : `${m.mount}/`;
    if (
      (path === m.mount || path.startsWith(prefix) || m.mount === "/") &&
      m.mount.length > (best?.mount.length ?? -1)
    )
      best = m;
  }
  return best?.available ?? 0;
}

/**
 * Host facts through systeminformation (CPU, memory, OS, kernel, virtualisation, file systems)
 * and the Docker API (version, runtimes, data root). Anything that does not answer stays empty
 * and is logged; this never throws.
 */
export async function collectHostFacts(options: CollectHostFactsOptions = {}): Promise<HostInfo> {
  const logger = options.logger ?? silentLogger;
  const [cpu, mem, os, system, fs] = await Promise.all([
    si.cpu().catch(() => undefined),
    si.mem().catch(() => undefined),
    si.osInfo().catch(() => undefined),
    si.system().catch(() => undefined),
    si.fsSize().catch(() => []),
  ]);
  let info: DockerInfoFacts | undefined;
  if (options.docker) {
    try {
      info = (await options.docker.info()) as DockerInfoFacts;
    } catch (error) {
      logger.warn("docker did not answer /info", { error: (error as Error).message });
    }
  }
  return create(HostInfoSchema, {
    hostname: os?.hostname ?? "",
    cpuModel: [cpu?.manufacturer, cpu?.brand].filter(Boolean).join(" "),
    cpuLogicalCores: cpu?.cores ?? 0,
    memoryTotalBytes: BigInt(mem?.total ?? 0),
    os: [os?.distro, os?.release].filter(Boolean).join(" "),
    kernel: os?.kernel ?? "",
    dockerDiskFreeBytes: BigInt(
      Math.max(
        0,
        Math.trunc(
          freeBytesFor(
            info?.DockerRootDir ?? "/var/lib/docker",
            fs.map((f) => ({ mount: f.mount, available: f.available })),
          ),
        ),
      ),
    ),
    dockerVersion: info?.ServerVersion ?? "",
    nvidiaContainerRuntime: info ? hasNvidiaContainerRuntime(info) : false,
    virtualized: system?.virtual ?? false,
  });
}
