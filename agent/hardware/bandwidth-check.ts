import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type AllReduceCheck,
  AllReduceCheckSchema,
  AllReduceSizeSchema,
  type BandwidthCheck,
  BandwidthCheckSchema,
  type HardwareFailure,
  HardwareFailureSchema,
  PairBandwidthSchema,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { GpuScriptName } from "./gpu-scripts.ts";
import type { HardwareProfile } from "./profiles.ts";

/**
 * Runs one of the GPU scripts somewhere with GPUs (a Python on this machine, or the baseline image
 * with every GPU) and returns its stdout: one JSON object. The probe parses it and applies the
 * profile's thresholds.
 */
export type BandwidthRunner = (options: {
  script: GpuScriptName;
  signal?: AbortSignal | undefined;
}) => Promise<string>;

/** The last line of stdout that parses as a JSON object, or a CacheonError naming what came instead. */
function lastJson(stdout: string, script: string): Record<string, unknown> {
  const line = stdout
    .trim()
    .split(/\r?\n/)
    .reverse()
    .find((l) => l.trim().startsWith("{"));
  try {
    const parsed: unknown = JSON.parse(line ?? "");
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // reported below
  }
  throw new CacheonError(
    "invalid-argument",
    `${script} printed no JSON (got "${stdout.trim().slice(0, 120)}"): check that the image runs python3`,
  );
}

function requireMeasured(data: Record<string, unknown>, what: string): void {
  if (data.ok !== true) {
    throw new CacheonError(
      "unavailable",
      `the ${what} could not measure: ${String(data.error ?? "no reason given")}`,
    );
  }
}

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/**
 * Parses gpu_copy_bandwidth.py's JSON and marks it ok when every pair reached `minGbPerS`. Throws
 * `unavailable` when the script reported that it could not measure, `invalid-argument` when the
 * output is not the script's JSON.
 */
export function parseBandwidthOutput(stdout: string, minGbPerS: number): BandwidthCheck {
  const data = lastJson(stdout, "the bandwidth script");
  requireMeasured(data, "bandwidth check");
  const rawPairs = data.pairs as { src?: unknown; dst?: unknown; gb_per_s?: unknown }[] | undefined;
  if (!Array.isArray(rawPairs) || rawPairs.length === 0 || typeof data.bytes_per_copy !== "number") {
    throw new CacheonError(
      "invalid-argument",
      "the bandwidth script's JSON has no pairs or no bytes_per_copy",
    );
  }
  const pairs = rawPairs.map((p, i) => {
    if (typeof p.src !== "number" || typeof p.dst !== "number" || !finite(p.gb_per_s)) {
      throw new CacheonError(
        "invalid-argument",
        `the bandwidth script's pair ${i} is malformed: ${JSON.stringify(p)}`,
      );
    }
    return create(PairBandwidthSchema, { src: p.src, dst: p.dst, gbPerS: p.gb_per_s });
  });
  return create(BandwidthCheckSchema, {
    ok: pairs.every((p) => p.gbPerS >= minGbPerS),
    bytesPerCopy: BigInt(Math.trunc(data.bytes_per_copy)),
    pairs,
    minGbPerS,
  });
}

/**
 * Parses nccl_all_reduce.py's JSON; ok when the largest size's bus bandwidth reached
 * `minBusGbPerS` (0: no threshold). Throws like {@link parseBandwidthOutput}.
 */
export function parseAllReduceOutput(stdout: string, minBusGbPerS: number): AllReduceCheck {
  const data = lastJson(stdout, "the all-reduce script");
  requireMeasured(data, "all-reduce check");
  const rawSizes = data.sizes as
    | { bytes?: unknown; time_us?: unknown; alg_gb_per_s?: unknown; bus_gb_per_s?: unknown }[]
    | undefined;
  if (!Array.isArray(rawSizes) || rawSizes.length === 0 || !finite(data.world_size)) {
    throw new CacheonError("invalid-argument", "the all-reduce script's JSON has no sizes or no world_size");
  }
  const sizes = rawSizes
    .map((s, i) => {
      if (!finite(s.bytes) || !finite(s.time_us) || !finite(s.alg_gb_per_s) || !finite(s.bus_gb_per_s)) {
        throw new CacheonError(
          "invalid-argument",
          `the all-reduce script's size ${i} is malformed: ${JSON.stringify(s)}`,
        );
      }
      return create(AllReduceSizeSchema, {
        bytes: BigInt(Math.trunc(s.bytes)),
        timeUs: s.time_us,
        algGbPerS: s.alg_gb_per_s,
        busGbPerS: s.bus_gb_per_s,
      });
    })
    .sort((a, b) => (a.bytes < b.bytes ? -1 : a.bytes > b.bytes ? 1 : 0));
  const largest = sizes.at(-1);
  return create(AllReduceCheckSchema, {
    ok: (largest?.busGbPerS ?? 0) >= minBusGbPerS,
    ranks: Math.trunc(data.world_size),
    sizes,
    minBusGbPerS,
    ncclVersion: typeof data.nccl_version === "string" ? data.nccl_version : "",
    seconds: finite(data.seconds) ? data.seconds : 0,
  });
}

/** What {@link measureGpuBandwidth} found. */
export interface GpuBandwidthResult {
  /** The copy test, with the all-reduce inside; undefined when the copy test could not run. */
  bandwidth: BandwidthCheck | undefined;
  /** Each test that could not run, as a failure of its rule ("bandwidth", "all-reduce") on "host". */
  failures: HardwareFailure[];
}

/**
 * Runs the pairwise copy test, then the all-reduce (when the profile sets its threshold and the copy
 * test could run), one after the other (they would slow each other down). A test that cannot run is a failure of its rule: a
 * machine whose links cannot be measured is not a machine whose links were measured good. The
 * thresholds themselves are applied by {@link bandwidthFailures}.
 */
export async function measureGpuBandwidth(
  runner: BandwidthRunner,
  profile: HardwareProfile,
  signal?: AbortSignal,
): Promise<GpuBandwidthResult> {
  const failures: HardwareFailure[] = [];
  const cannot = (rule: string, test: string, error: unknown) => {
    signal?.throwIfAborted();
    failures.push(
      create(HardwareFailureSchema, {
        rule,
        subject: "host",
        detail: `the ${test} could not run: ${CacheonError.from(error).message}`,
      }),
    );
  };
  let bandwidth: BandwidthCheck | undefined;
  try {
    bandwidth = parseBandwidthOutput(
      await runner({ script: "gpu_copy_bandwidth.py", signal }),
      profile.minBandwidthGbPerS ?? 0,
    );
  } catch (error) {
    cannot("bandwidth", "copy test", error);
  }
  // A copy test that could not run (no GPUs for the container, no PyTorch) would fail the same way.
  if (profile.minAllReduceBusGbPerS !== undefined && failures.length === 0) {
    try {
      const allReduce = parseAllReduceOutput(
        await runner({ script: "nccl_all_reduce.py", signal }),
        profile.minAllReduceBusGbPerS,
      );
      if (bandwidth) {
        bandwidth.allReduce = allReduce;
        bandwidth.ok &&= allReduce.ok;
      }
    } catch (error) {
      cannot("all-reduce", "all-reduce", error);
    }
  }
  return { bandwidth, failures };
}

/**
 * Every pair below the copy threshold, an all-reduce below its threshold, and any figure above what
 * the profile's NVLinks can physically carry, as failures. Pure.
 */
export function bandwidthFailures(check: BandwidthCheck, profile: HardwareProfile): HardwareFailure[] {
  const failures: HardwareFailure[] = [];
  const fail = (rule: string, subject: string, detail: string) =>
    failures.push(create(HardwareFailureSchema, { rule, subject, detail }));
  if (profile.minBandwidthGbPerS !== undefined) {
    for (const pair of check.pairs) {
      if (pair.gbPerS < profile.minBandwidthGbPerS) {
        fail(
          "bandwidth",
          `gpu ${pair.src}->${pair.dst}`,
          `copied at ${pair.gbPerS.toFixed(1)} GB/s, the profile needs ${profile.minBandwidthGbPerS} GB/s`,
        );
      }
    }
  }
  const ceiling = plausibleCeilingGbPerS(profile);
  if (ceiling !== undefined) {
    const implausible = (subject: string, what: string, gbPerS: number) =>
      fail(
        "bandwidth-implausible",
        subject,
        `${what} ${gbPerS.toFixed(1)} GB/s, above what ${profile.nvlinksPerGpu} NVLinks at ${profile.nvlinkMinGbPerS} GB/s can carry (${ceiling.toFixed(1)} GB/s with a ${PLAUSIBLE_ALLOWANCE}x allowance): the measurement is broken (an unsynchronised timer) or forged`,
      );
    for (const pair of check.pairs) {
      // A copy within one GPU (the only pair a 1-GPU machine has) runs in HBM, not over NVLink:
      // a real H200 copies 0 -> 0 at about 2,100 GB/s.
      if (pair.src === pair.dst) continue;
      if (!(pair.gbPerS <= ceiling)) implausible(`gpu ${pair.src}->${pair.dst}`, "copied at", pair.gbPerS);
    }
    for (const size of check.allReduce?.sizes ?? []) {
      if (!(size.busGbPerS <= ceiling)) {
        implausible("host", `NCCL all-reduce bus bandwidth at ${formatBytes(size.bytes)}`, size.busGbPerS);
      }
    }
  }
  const allReduce = check.allReduce;
  const largest = allReduce?.sizes.at(-1);
  if (allReduce && profile.gpuCount !== undefined && allReduce.ranks !== profile.gpuCount) {
    fail(
      "all-reduce",
      "host",
      `the all-reduce ran across ${allReduce.ranks} GPU(s), the profile needs ${profile.gpuCount}: it did not measure every GPU`,
    );
  }
  if (allReduce && profile.minAllReduceBusGbPerS !== undefined) {
    if (!largest || largest.busGbPerS < profile.minAllReduceBusGbPerS) {
      fail(
        "all-reduce",
        `gpu 0-${Math.max(0, allReduce.ranks - 1)}`,
        `NCCL all-reduce bus bandwidth ${largest ? `${largest.busGbPerS.toFixed(1)} GB/s at ${formatBytes(largest.bytes)}` : "not measured"}, the profile needs ${profile.minAllReduceBusGbPerS} GB/s: a slow or degraded NVLink/NVSwitch fabric`,
      );
    }
  }
  return failures;
}

/** Headroom over the NVLinks' line rate before a figure is physically implausible. */
const PLAUSIBLE_ALLOWANCE = 1.25;

/**
 * The most a GPU can move over its NVLinks in one direction, with {@link PLAUSIBLE_ALLOWANCE}:
 * a copy or a ring all-reduce's bus bandwidth cannot exceed it, so a figure above it is a broken
 * or forged measurement, never a fast machine. Undefined when the profile names no NVLinks.
 */
export function plausibleCeilingGbPerS(profile: HardwareProfile): number | undefined {
  const { nvlinksPerGpu, nvlinkMinGbPerS } = profile;
  if (!nvlinksPerGpu || !nvlinkMinGbPerS) return undefined;
  return nvlinksPerGpu * nvlinkMinGbPerS * PLAUSIBLE_ALLOWANCE;
}

/** 1073741824n -> "1 GiB", 67108864n -> "64 MiB". */
export function formatBytes(bytes: bigint): string {
  const n = Number(bytes);
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  return `${n} bytes`;
}
