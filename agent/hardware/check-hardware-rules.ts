import { create } from "@bufbuild/protobuf";
import {
  type BandwidthCheck,
  type Gpu,
  type GpuPairLink,
  type HardwareFailure,
  HardwareFailureSchema,
  type HostInfo,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { bandwidthFailures } from "./bandwidth-check.ts";
import type { LoaderOverride } from "./find-loader-overrides.ts";
import type { HardwareProfile } from "./profiles.ts";

/** Everything the probe found, as plain data: the input of {@link checkHardwareRules}. */
export interface HardwareFacts {
  /** GPUs with NVLink, NUMA and affinity merged in. */
  gpus: Gpu[];
  /** Pairwise connections from `topo -m`. */
  links: GpuPairLink[];
  /** Host facts; host rules are skipped when undefined (not collected). */
  host?: HostInfo | undefined;
  /** Loader overrides found in the environment and /etc/ld.so.preload. */
  loaderOverrides: LoaderOverride[];
  /** Result of the active copy and all-reduce tests; their rules are skipped when undefined (did not run). */
  bandwidth?: BandwidthCheck | undefined;
  /** What looked wrong in nvidia-smi's output (truncated XML, inconsistent tools). */
  problems: string[];
}

const GiB = 1024 ** 3;

/**
 * Checks facts against a profile and returns every failed rule, each naming the GPU, link or
 * pair it concerns. Pure: the same facts and profile always give the same failures, in a
 * stable order (environment, probe, count, per GPU, pairs, links, host, bandwidth).
 */
export function checkHardwareRules(facts: HardwareFacts, profile: HardwareProfile): HardwareFailure[] {
  const failures: HardwareFailure[] = [];
  const fail = (rule: string, subject: string, detail: string) =>
    failures.push(create(HardwareFailureSchema, { rule, subject, detail }));
  const { gpus } = facts;

  if (profile.forbidLoaderOverrides) {
    for (const o of facts.loaderOverrides) {
      fail(
        "loader-override",
        o.variable.startsWith("/") ? o.variable : `env ${o.variable}`,
        `${o.variable}=${o.value}: ${o.reason}; unset it and run again`,
      );
    }
  }
  if (profile.gpuCount !== undefined) {
    for (const problem of facts.problems) fail("probe-output", "nvidia-smi", problem);
    if (gpus.length !== profile.gpuCount) {
      fail("gpu-count", "host", `found ${gpus.length} GPU(s), the profile needs exactly ${profile.gpuCount}`);
    }
  }

  for (const gpu of gpus) {
    const subject = `gpu ${gpu.index}`;
    if (profile.gpuName !== undefined && gpu.name !== profile.gpuName) {
      fail("gpu-name", subject, `is "${gpu.name || "unknown"}", the profile needs "${profile.gpuName}"`);
    }
    const memory = Number(gpu.memoryTotalMib);
    const unreadable = (name: string) => gpu.unreadable.includes(name);
    const na = (what: string) =>
      `${what} is unreadable (nvidia-smi printed N/A or nothing): it cannot be shown to be healthy, and N/A is not 0`;
    if (
      (profile.memoryMinMib !== undefined && memory < profile.memoryMinMib) ||
      (profile.memoryMaxMib !== undefined && memory > profile.memoryMaxMib)
    ) {
      fail(
        "gpu-memory",
        subject,
        unreadable("fb_memory_usage.total")
          ? na("total memory")
          : `reports ${memory} MiB, the profile needs ${profile.memoryMinMib ?? 0}-${profile.memoryMaxMib ?? "any"} MiB`,
      );
    }
    if (profile.requireMigOff && unreadable("mig_mode")) fail("mig-off", subject, na("MIG mode"));
    else if (profile.requireMigOff && gpu.migEnabled) {
      fail("mig-off", subject, "MIG mode is enabled: disable it (nvidia-smi -i N -mig 0) and reset the GPU");
    }
    if (profile.requireHealthyEcc) {
      if (unreadable("ecc_mode")) fail("ecc-on", subject, na("ECC mode"));
      else if (!gpu.eccEnabled) fail("ecc-on", subject, "ECC is off: enable it (nvidia-smi -e 1) and reboot");
      if (unreadable("ecc_errors.volatile"))
        fail("ecc-errors", subject, na("the volatile uncorrected ECC count"));
      else if (gpu.eccUncorrectedVolatile > 0n) {
        fail(
          "ecc-errors",
          subject,
          `${gpu.eccUncorrectedVolatile} volatile uncorrected ECC error(s): the GPU needs a reset or service`,
        );
      }
      // A GPU either remaps rows (Ampere and later) or retires pages (older): one must be readable.
      if (unreadable("remapped_rows") && unreadable("retired_pages")) {
        fail("remap-pending", subject, na("row remapping and page retirement"));
      }
      if (gpu.remapPending)
        fail("remap-pending", subject, "a row remap is pending: reset the GPU before use");
      if (gpu.remapFailure) fail("remap-failure", subject, "a row remap failed: the GPU needs service");
      if (gpu.retiredPagesPending > 0n) {
        fail("retired-pages", subject, `${gpu.retiredPagesPending} page(s) retired or pending retirement`);
      }
    }
    const stateBad = profile.fabricState !== undefined && gpu.fabricState !== profile.fabricState;
    const statusBad = profile.fabricStatus !== undefined && gpu.fabricStatus !== profile.fabricStatus;
    if (stateBad || statusBad) {
      fail(
        "fabric",
        subject,
        `fabric state "${gpu.fabricState || "not reported"}" status "${gpu.fabricStatus || "not reported"}", the profile needs "${profile.fabricState ?? "any"}"/"${profile.fabricStatus ?? "any"}": is nvidia-fabricmanager running (same version as the driver)?`,
      );
    }
    if (profile.forbidGpuProcesses && gpu.processes.length > 0) {
      const list = gpu.processes
        .map((p) => `pid ${p.pid} ${p.name || "?"} (${p.usedMemoryMib} MiB)`)
        .join(", ");
      fail("gpu-processes", subject, `in use by ${list}: another workload shares this GPU`);
    } else if (profile.forbidGpuProcesses && unreadable("processes")) {
      fail("gpu-processes", subject, na("the list of GPU processes"));
    }
    // Memory in use with no process listed: work this PID namespace cannot see (a process the
    // rule above names is not counted twice).
    if (profile.maxMemoryUsedMib !== undefined && gpu.processes.length === 0) {
      if (unreadable("fb_memory_usage.used")) fail("gpu-memory-in-use", subject, na("memory in use"));
      else if (Number(gpu.memoryUsedMib) > profile.maxMemoryUsedMib) {
        fail(
          "gpu-memory-in-use",
          subject,
          `${gpu.memoryUsedMib} MiB in use > ${profile.maxMemoryUsedMib} MiB with no process visible here: another container or VM holds this GPU`,
        );
      }
    }
  }

  if (profile.requireUniqueUuids) {
    const byUuid = new Map<string, number[]>();
    for (const gpu of gpus) byUuid.set(gpu.uuid, [...(byUuid.get(gpu.uuid) ?? []), gpu.index]);
    for (const [uuid, indices] of byUuid) {
      if (uuid === "") fail("uuid-unique", `gpu ${indices.join(",")}`, "reports no UUID");
      else if (indices.length > 1) {
        fail(
          "uuid-unique",
          `gpu ${indices.join(",")}`,
          `share the UUID ${uuid}: GPU identities are duplicated or faked`,
        );
      }
    }
  }
  const drivers = new Map<string, number[]>();
  for (const gpu of gpus)
    drivers.set(gpu.driverVersion, [...(drivers.get(gpu.driverVersion) ?? []), gpu.index]);
  if (profile.requireSingleDriver && drivers.size > 1) {
    const detail = [...drivers].map(([v, idx]) => `${v || "unknown"} on gpu ${idx.join(",")}`).join("; ");
    fail(
      "driver-single",
      `gpu ${gpus.map((g) => g.index).join(",")}`,
      `more than one driver version: ${detail}`,
    );
  }
  if (profile.allowedDriverVersions && profile.allowedDriverVersions.length > 0) {
    for (const [version, indices] of drivers) {
      if (!profile.allowedDriverVersions.includes(version)) {
        fail(
          "driver-allowed",
          `gpu ${indices.join(",")}`,
          `driver ${version || "unknown"} is not one of ${profile.allowedDriverVersions.join(", ")}`,
        );
      }
    }
  }

  if (profile.pairConnection !== undefined) {
    const byPair = new Map(facts.links.map((l) => [`${l.gpuA}-${l.gpuB}`, l.connection]));
    for (const a of gpus) {
      for (const b of gpus) {
        if (b.index <= a.index) continue;
        const connection = byPair.get(`${a.index}-${b.index}`);
        if (connection !== profile.pairConnection) {
          fail(
            "pair-connection",
            `gpu ${a.index}-${b.index}`,
            `topo -m shows ${connection ? `"${connection}"` : "no connection"}, the profile needs "${profile.pairConnection}"`,
          );
        }
      }
    }
  }

  for (const gpu of gpus) {
    if (profile.nvlinksPerGpu !== undefined && gpu.nvlinks.length < profile.nvlinksPerGpu) {
      fail(
        "nvlink-count",
        `gpu ${gpu.index}`,
        `nvlink -s lists ${gpu.nvlinks.length} link(s), the profile needs ${profile.nvlinksPerGpu}`,
      );
    }
    if (profile.nvlinksPerGpu === undefined && profile.nvlinkMinGbPerS === undefined) continue;
    for (const link of gpu.nvlinks) {
      const subject = `gpu ${gpu.index} link ${link.link}`;
      if (!link.active)
        fail(
          "nvlink-inactive",
          subject,
          "link is inactive: the board or its NVSwitch connection is degraded",
        );
      else if (profile.nvlinkMinGbPerS !== undefined && link.speedGbPerS < profile.nvlinkMinGbPerS - 1e-6) {
        fail(
          "nvlink-speed",
          subject,
          `runs at ${link.speedGbPerS} GB/s, the profile needs ${profile.nvlinkMinGbPerS} GB/s`,
        );
      }
    }
  }

  if (facts.host) {
    const { host } = facts;
    const needsDocker = profile.requireNvidiaContainerRuntime || (profile.minDockerDiskFreeGib ?? 0) > 0;
    if (needsDocker && host.dockerVersion === "") {
      fail("docker-engine", "host", "no Docker engine answered: start dockerd or set DOCKER_HOST");
    } else {
      if (profile.requireNvidiaContainerRuntime && !host.nvidiaContainerRuntime) {
        fail(
          "nvidia-runtime",
          "host",
          "Docker lists no nvidia runtime or CDI GPU devices: install the NVIDIA Container Toolkit",
        );
      }
      const freeGib = Number(host.dockerDiskFreeBytes) / GiB;
      if (profile.minDockerDiskFreeGib !== undefined && freeGib < profile.minDockerDiskFreeGib) {
        fail(
          "docker-disk",
          "host",
          `${freeGib.toFixed(1)} GiB free for Docker, the profile needs ${profile.minDockerDiskFreeGib} GiB for images and weights`,
        );
      }
    }
  }

  if (facts.bandwidth) failures.push(...bandwidthFailures(facts.bandwidth, profile));
  return failures;
}
