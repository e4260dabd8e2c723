import { existsSync } from "node:fs";
import type { ConfigSchema } from "../../shared/config/config-schema.ts";
import { loadConfig } from "../../shared/config/load-config.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * What a machine must be. Every field is optional: an absent field is not checked. Built-in
 * profiles are below; a file (YAML or JSON) can `extends` one and change fields.
 */
export interface HardwareProfile {
  /** Profile name, or the file path it was loaded from. */
  name: string;
  /** One line on what the profile is for. */
  description: string;
  /** Exact number of GPUs. */
  gpuCount?: number;
  /** Exact product name every GPU must report, e.g. "NVIDIA H200". */
  gpuName?: string;
  /** Lowest total framebuffer memory per GPU, MiB. */
  memoryMinMib?: number;
  /** Highest total framebuffer memory per GPU, MiB (catches a different SKU with the same name). */
  memoryMaxMib?: number;
  /** Connection every GPU pair must show in `topo -m`, e.g. "NV18". */
  pairConnection?: string;
  /** Active NVLink links every GPU must have. */
  nvlinksPerGpu?: number;
  /** Lowest speed of every active link, GB/s as `nvlink -s` prints it. */
  nvlinkMinGbPerS?: number;
  /** Fabric state every GPU must report, e.g. "Completed". */
  fabricState?: string;
  /** Fabric status every GPU must report, e.g. "Success". */
  fabricStatus?: string;
  /** MIG must be off on every GPU. */
  requireMigOff?: boolean;
  /** ECC must be on, with no volatile uncorrected errors, pending or failed remaps, or retired pages. */
  requireHealthyEcc?: boolean;
  /** No process may hold GPU memory (someone else's work would share the GPUs). */
  forbidGpuProcesses?: boolean;
  /**
   * Most framebuffer memory a GPU may have in use when the probe runs, MiB. Catches work nvidia-smi
   * lists no process for (another container's or VM's: a pod that is itself a container sees only
   * its own PIDs). An idle H200 reports 0 MiB.
   */
  maxMemoryUsedMib?: number;
  /** Every GPU must run the same driver version. */
  requireSingleDriver?: boolean;
  /** Every GPU must report a UUID and no two may be equal. */
  requireUniqueUuids?: boolean;
  /** Driver versions accepted; empty or absent accepts any. */
  allowedDriverVersions?: string[];
  /** Loader overrides (LD_PRELOAD, ...) in the environment or /etc/ld.so.preload fail the check. */
  forbidLoaderOverrides?: boolean;
  /** Directories LD_LIBRARY_PATH may name besides the system's and NVIDIA's own. */
  trustedLibraryDirs?: string[];
  /** Docker must list the NVIDIA container runtime (or CDI GPU devices). */
  requireNvidiaContainerRuntime?: boolean;
  /** Lowest free space on Docker's data root, GiB (images up to 20 GB each plus model weights). */
  minDockerDiskFreeGib?: number;
  /** Lowest GPU-to-GPU copy bandwidth of the active check, GB/s (1e9 bytes/s). */
  minBandwidthGbPerS?: number;
  /**
   * Lowest NCCL all-reduce bus bandwidth across every GPU at the largest size of the active check
   * (1 GiB), GB/s, NVLink multicast off.
   */
  minAllReduceBusGbPerS?: number;
  /**
   * nvidia-smi and libnvidia-ml must both be builds on the allow-list for the driver version
   * (agent/hardware/known-driver-builds.json). Off: an unknown build is only a finding.
   */
  requireKnownDriverBuild?: boolean;
}

const h200x8: HardwareProfile = {
  name: "h200x8",
  description: "8x NVIDIA H200 SXM on one NVLink/NVSwitch board: the pods validators rent",
  gpuCount: 8,
  gpuName: "NVIDIA H200",
  // An H200 SXM reports 143771 MiB; the NVL (PCIe) part and H100s report other sizes.
  memoryMinMib: 143000,
  memoryMaxMib: 144500,
  pairConnection: "NV18",
  nvlinksPerGpu: 18,
  nvlinkMinGbPerS: 26.562,
  fabricState: "Completed",
  fabricStatus: "Success",
  requireMigOff: true,
  requireHealthyEcc: true,
  forbidGpuProcesses: true,
  // The idle gate's limit: a fresh H200 reports 0 MiB in use (test/fixtures/nvidia-smi).
  maxMemoryUsedMib: 1024,
  requireSingleDriver: true,
  requireUniqueUuids: true,
  forbidLoaderOverrides: true,
  requireNvidiaContainerRuntime: true,
  // Qwen2.5-72B in bf16 is ~145 GB; up to four images of <= 20 GB each; headroom for layers.
  minDockerDiskFreeGib: 300,
  // 2x H200 measured 392-396 GB/s for 1 GiB copies; more than 20% below is a fault.
  minBandwidthGbPerS: 315,
  // Public 8x H200 figures are 450-480 GB/s at 1 GiB; more than 20% below the low end is a fault.
  minAllReduceBusGbPerS: 360,
};

// A real 4x H200 SXM machine reached 354 GB/s all-reduce bus bandwidth at 1 GiB (../shared
// REFERENCE §3, and test/fixtures/nvidia-smi/*-real/ from the device tool): 20% below it.
const fourGpu = { gpuCount: 4, minAllReduceBusGbPerS: 283 };

const builtIn: Record<string, HardwareProfile> = {
  h200x8,
  h100x8: {
    ...h200x8,
    name: "h100x8",
    description: "8x NVIDIA H100 SXM 80GB on one NVLink/NVSwitch board",
    gpuName: "NVIDIA H100 80GB HBM3",
    // An H100 SXM 80GB reports 81559 MiB.
    memoryMinMib: 81000,
    memoryMaxMib: 82000,
  },
  h200x4: {
    ...h200x8,
    ...fourGpu,
    name: "h200x4",
    description:
      "4x NVIDIA H200 SXM on one NVLink/NVSwitch board (half an HGX: development and smaller models)",
  },
  h100x4: {
    ...h200x8,
    ...fourGpu,
    name: "h100x4",
    description: "4x NVIDIA H100 SXM 80GB on one NVLink/NVSwitch board",
    gpuName: "NVIDIA H100 80GB HBM3",
    memoryMinMib: 81000,
    memoryMaxMib: 82000,
  },
  none: {
    name: "none",
    description: "no GPU requirement: local development; records what it finds and checks nothing",
    requireUniqueUuids: true,
  },
};

/** Names of the built-in profiles. */
export const builtInProfileNames: readonly string[] = Object.keys(builtIn);

/** The default profile's name. */
export const defaultProfileName = "h200x8";

const profileSchema: ConfigSchema = {
  extends: { type: "string", doc: "built-in profile to start from", values: Object.keys(builtIn) },
  description: { type: "string", doc: "what the profile is for" },
  gpuCount: { type: "integer", doc: "exact GPU count", min: 0 },
  gpuName: { type: "string", doc: "exact GPU product name" },
  memoryMinMib: { type: "integer", doc: "lowest GPU memory, MiB", min: 0 },
  memoryMaxMib: { type: "integer", doc: "highest GPU memory, MiB", min: 0 },
  pairConnection: { type: "string", doc: "topo -m connection of every GPU pair" },
  nvlinksPerGpu: { type: "integer", doc: "active NVLink links per GPU", min: 0 },
  nvlinkMinGbPerS: { type: "number", doc: "lowest link speed, GB/s", min: 0 },
  fabricState: { type: "string", doc: "required fabric state" },
  fabricStatus: { type: "string", doc: "required fabric status" },
  requireMigOff: { type: "boolean", doc: "MIG off" },
  requireHealthyEcc: { type: "boolean", doc: "ECC on and clean" },
  forbidGpuProcesses: { type: "boolean", doc: "no GPU processes" },
  maxMemoryUsedMib: { type: "integer", doc: "most GPU memory in use at the probe, MiB", min: 0 },
  requireSingleDriver: { type: "boolean", doc: "one driver version" },
  requireUniqueUuids: { type: "boolean", doc: "unique UUIDs" },
  allowedDriverVersions: { type: "string-list", doc: "accepted driver versions" },
  forbidLoaderOverrides: { type: "boolean", doc: "refuse LD_PRELOAD and similar" },
  trustedLibraryDirs: { type: "string-list", doc: "extra directories LD_LIBRARY_PATH may name" },
  requireNvidiaContainerRuntime: { type: "boolean", doc: "Docker has the NVIDIA runtime" },
  minDockerDiskFreeGib: { type: "number", doc: "free GiB on Docker's data root", min: 0 },
  minBandwidthGbPerS: { type: "number", doc: "lowest GPU-to-GPU copy bandwidth, GB/s", min: 0 },
  minAllReduceBusGbPerS: {
    type: "number",
    doc: "lowest NCCL all-reduce bus bandwidth at 1 GiB, GB/s",
    min: 0,
  },
  requireKnownDriverBuild: { type: "boolean", doc: "nvidia-smi and NVML must be allow-listed builds" },
};

/**
 * A built-in profile by name, or one loaded from a YAML/JSON file path. A file may name
 * `extends: h200x8` and override fields; without `extends` it starts from nothing (no rule).
 * Throws `invalid-config` naming every bad field at once, or the unknown name.
 */
export function loadHardwareProfile(nameOrPath: string): HardwareProfile {
  // Own keys only: a name like "toString" must read as unknown, not as Object.prototype's.
  if (Object.hasOwn(builtIn, nameOrPath)) return structuredClone(builtIn[nameOrPath] as HardwareProfile);
  if (!/[./\\]/.test(nameOrPath) || !existsSync(nameOrPath)) {
    throw new CacheonError(
      "invalid-config",
      `unknown hardware profile "${nameOrPath}": use one of ${builtInProfileNames.join(", ")} or the path of a YAML/JSON profile file`,
    );
  }
  const { values } = loadConfig({
    schema: profileSchema,
    file: nameOrPath,
    env: {},
    envPrefix: "CACHEON_PROFILE_",
  });
  const { extends: base, ...fields } = values;
  const start = typeof base === "string" ? structuredClone(builtIn[base]) : undefined;
  return {
    ...start,
    description: start?.description ?? `loaded from ${nameOrPath}`,
    ...(fields as Partial<HardwareProfile>),
    name: nameOrPath,
  };
}
