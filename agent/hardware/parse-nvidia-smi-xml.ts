import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type Gpu,
  type GpuProcess,
  GpuProcessSchema,
  GpuSchema,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { isOn, leadingNumber, toUint64, valueOrEmpty } from "./nvidia-smi-values.ts";
import { child, childrenNamed, childText, parseXml, type XmlElement } from "./xml-tree.ts";

/** What `nvidia-smi -q -x` said. */
export interface NvidiaSmiQuery {
  /** Driver version of the loaded kernel module ("" when not reported). */
  driverVersion: string;
  /** CUDA version the driver supports ("" when not reported). */
  cudaVersion: string;
  /** `attached_gpus` as printed; undefined when missing or not a number. */
  attachedGpus: number | undefined;
  /** One per `<gpu>` element, in output order (nvidia-smi's index order). */
  gpus: Gpu[];
  /** True when the XML was cut off; `gpus` then holds what was readable. */
  truncated: boolean;
  /** Everything that looked wrong in the output, each naming where. */
  problems: string[];
}

/**
 * Parses `nvidia-smi -q -x`. Tolerant: unknown tags are ignored, no-value markers become
 * "" / 0 / -1 as the proto documents, a truncated output gives the GPUs read so far and a
 * problem. Throws `invalid-argument` only when the text is not nvidia-smi XML at all.
 */
export function parseNvidiaSmiXml(text: string): NvidiaSmiQuery {
  const { root, truncated, problems } = parseXml(text);
  if (root?.name !== "nvidia_smi_log") {
    const seen =
      text.trim() === "" ? "empty output" : root ? `root element <${root.name}>` : "no XML element";
    throw new CacheonError(
      "invalid-argument",
      `nvidia-smi -q -x gave ${seen}, not <nvidia_smi_log>: check that the nvidia-smi used is NVIDIA's and the driver is loaded`,
    );
  }
  const topDriver = valueOrEmpty(childText(root, "driver_version"));
  const gpuElements = childrenNamed(root, "gpu");
  const gpus = gpuElements.map((element, index) => gpuFromXml(element, index, topDriver, problems));
  const attachedGpus = leadingNumber(childText(root, "attached_gpus"));
  if (attachedGpus !== undefined && attachedGpus !== gpus.length) {
    problems.push(`attached_gpus says ${attachedGpus} but the output describes ${gpus.length} GPU(s)`);
  }
  return {
    driverVersion: topDriver,
    cudaVersion: valueOrEmpty(childText(root, "cuda_version")),
    attachedGpus,
    gpus,
    truncated,
    problems,
  };
}

function gpuFromXml(gpu: XmlElement, index: number, topDriver: string, problems: string[]): Gpu {
  const uuid = valueOrEmpty(childText(gpu, "uuid"));
  if (!uuid) problems.push(`gpu ${index} has no UUID`);
  return create(GpuSchema, {
    index,
    name: valueOrEmpty(childText(gpu, "product_name")),
    uuid,
    serial: valueOrEmpty(childText(gpu, "serial")),
    pciBusId: valueOrEmpty(childText(gpu, "pci", "pci_bus_id")) || valueOrEmpty(gpu.attributes.id),
    memoryTotalMib: toUint64(leadingNumber(childText(gpu, "fb_memory_usage", "total"))),
    memoryUsedMib: toUint64(leadingNumber(childText(gpu, "fb_memory_usage", "used"))),
    driverVersion: gpuDriverVersion(gpu, topDriver),
    vbiosVersion: valueOrEmpty(childText(gpu, "vbios_version")),
    migEnabled: isOn(childText(gpu, "mig_mode", "current_mig")),
    eccEnabled: isOn(childText(gpu, "ecc_mode", "current_ecc")),
    eccUncorrectedVolatile: toUint64(volatileUncorrected(gpu)),
    remapPending: isOn(childText(gpu, "remapped_rows", "remapped_row_pending")),
    remapFailure: isOn(childText(gpu, "remapped_rows", "remapped_row_failure")),
    retiredPagesPending: toUint64(retiredPages(gpu)),
    persistenceMode: isOn(childText(gpu, "persistence_mode")),
    computeMode: valueOrEmpty(childText(gpu, "compute_mode")),
    fabricState: valueOrEmpty(childText(gpu, "fabric", "state")),
    fabricStatus: valueOrEmpty(childText(gpu, "fabric", "status")),
    processes: childrenNamed(child(gpu, "processes"), "process_info").map(processFromXml),
    nvlinks: [],
    numaNode: -1,
    cpuAffinity: "",
    unreadable: unreadableValues(gpu),
    temperatureC: leadingNumber(childText(gpu, "temperature", "gpu_temp")) ?? -1,
    utilizationPercent: leadingNumber(childText(gpu, "utilization", "gpu_util")) ?? -1,
    powerLimitW:
      leadingNumber(childText(gpu, "gpu_power_readings", "current_power_limit")) ??
      leadingNumber(childText(gpu, "power_readings", "power_limit")) ??
      0,
  });
}

/**
 * The driver a GPU runs. nvidia-smi's XML names one driver for the whole machine; per GPU the
 * telling value is the GSP firmware version, which on GSP drivers (every Hopper driver) is the
 * firmware the driver package loaded onto that GPU and equals the driver version. A GPU whose
 * firmware differs (a half-finished upgrade, a driver/library mismatch, or edited output) shows
 * here as a second version. A per-GPU `<driver_version>` wins where some tool prints one.
 */
function gpuDriverVersion(gpu: XmlElement, topDriver: string): string {
  return (
    valueOrEmpty(childText(gpu, "driver_version")) ||
    valueOrEmpty(childText(gpu, "gsp_firmware_version")) ||
    topDriver
  );
}

/** True when the element along the path is missing or holds a no-value marker (N/A is not 0). */
function unreadableAt(element: XmlElement, ...path: string[]): boolean {
  return valueOrEmpty(childText(element, ...path)) === "";
}

/**
 * The values a rule may need that this GPU did not report, by element name (see the proto's
 * `Gpu.unreadable`). Pure.
 */
function unreadableValues(gpu: XmlElement): string[] {
  const names: string[] = [];
  const check = (name: string, missing: boolean) => {
    if (missing) names.push(name);
  };
  check("mig_mode", unreadableAt(gpu, "mig_mode", "current_mig"));
  check("ecc_mode", unreadableAt(gpu, "ecc_mode", "current_ecc"));
  check("ecc_errors.volatile", !volatileCountersReadable(gpu));
  check(
    "remapped_rows",
    unreadableAt(gpu, "remapped_rows", "remapped_row_pending") ||
      unreadableAt(gpu, "remapped_rows", "remapped_row_failure"),
  );
  check("retired_pages", unreadableAt(gpu, "retired_pages", "pending_retirement"));
  const processes = child(gpu, "processes");
  // An empty <processes/> means none; a missing element or N/A means nvidia-smi could not say.
  check("processes", !processes || (processes.children.length === 0 && processes.text !== ""));
  check("fb_memory_usage.total", leadingNumber(childText(gpu, "fb_memory_usage", "total")) === undefined);
  check("fb_memory_usage.used", leadingNumber(childText(gpu, "fb_memory_usage", "used")) === undefined);
  return names;
}

/**
 * True when every volatile uncorrectable ECC counter the GPU lists holds a number: Hopper's flat
 * `*_uncorrectable*` entries, or the older `<double_bit><total>`. Any N/A among them, or none at
 * all, is unreadable: an error count that cannot be read may not be zero.
 */
function volatileCountersReadable(gpu: XmlElement): boolean {
  const volatile = child(gpu, "ecc_errors", "volatile");
  if (!volatile) return false;
  const flat = volatile.children.filter((entry) => /uncorrectable/.test(entry.name));
  if (flat.length > 0) return flat.every((entry) => leadingNumber(entry.text) !== undefined);
  return leadingNumber(childText(volatile, "double_bit", "total")) !== undefined;
}

/** Volatile uncorrectable ECC errors of every memory type the GPU reports. */
function volatileUncorrected(gpu: XmlElement): number | undefined {
  const volatile = child(gpu, "ecc_errors", "volatile");
  if (!volatile) return undefined;
  let total: number | undefined;
  const add = (value: number | undefined) => {
    if (value !== undefined) total = (total ?? 0) + value;
  };
  // Hopper: sram_uncorrectable_parity, sram_uncorrectable_secded, dram_uncorrectable.
  for (const entry of volatile.children) if (/uncorrectable/.test(entry.name)) add(leadingNumber(entry.text));
  // Older layouts: <double_bit><total>.
  add(leadingNumber(childText(volatile, "double_bit", "total")));
  return total;
}

/** Retired pages plus one when a retirement is pending; older GPUs only (Hopper prints N/A). */
function retiredPages(gpu: XmlElement): number | undefined {
  const retired = child(gpu, "retired_pages");
  if (!retired) return undefined;
  const single = leadingNumber(childText(retired, "multiple_single_bit_retirement", "retired_count")) ?? 0;
  const double = leadingNumber(childText(retired, "double_bit_retirement", "retired_count")) ?? 0;
  const pending = isOn(childText(retired, "pending_retirement")) ? 1 : 0;
  return single + double + pending;
}

function processFromXml(process: XmlElement): GpuProcess {
  return create(GpuProcessSchema, {
    pid: leadingNumber(childText(process, "pid")) ?? 0,
    name: valueOrEmpty(childText(process, "process_name")),
    usedMemoryMib: toUint64(leadingNumber(childText(process, "used_memory"))),
  });
}
