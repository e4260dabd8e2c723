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
  requireSingleDriver: true,
  requireUniqueUuids: true,
  forbidLoaderOverrides: true,
  requireNvidiaContainerRuntime: true,
  // Qwen2.5-72B in bf16 is ~145 GB; up to four images of <= 20 GB each; headroom for layers.
  minDockerDiskFreeGib: 300,
  // 2x H200 measured 392-396 GB/s for 1 GiB copies; more than 20% below is a fault.
  minBandwidthGbPerS: 315,
};

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
  requireSingleDriver: { type: "boolean", doc: "one driver version" },
  requireUniqueUuids: { type: "boolean", doc: "unique UUIDs" },
  allowedDriverVersions: { type: "string-list", doc: "accepted driver versions" },
  forbidLoaderOverrides: { type: "boolean", doc: "refuse LD_PRELOAD and similar" },
  trustedLibraryDirs: { type: "string-list", doc: "extra directories LD_LIBRARY_PATH may name" },
  requireNvidiaContainerRuntime: { type: "boolean", doc: "Docker has the NVIDIA runtime" },
  minDockerDiskFreeGib: { type: "number", doc: "free GiB on Docker's data root", min: 0 },
  minBandwidthGbPerS: { type: "number", doc: "lowest GPU-to-GPU copy bandwidth, GB/s", min: 0 },
};

/**
 * A built-in profile by name, or one loaded from a YAML/JSON file path. A file may name
 * `extends: h200x8` and override fields; without `extends` it starts from nothing (no rule).
 * Throws `invalid-config` naming every bad field at once, or the unknown name.
 */
export function loadHardwareProfile(nameOrPath: string): HardwareProfile {
  const known = builtIn[nameOrPath];
  if (known) return structuredClone(known);
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
