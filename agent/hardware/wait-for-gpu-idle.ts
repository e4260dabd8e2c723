import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { Gpu } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { parseNvidiaSmiXml } from "./parse-nvidia-smi-xml.ts";
import { loadHardwareProfile } from "./profiles.ts";
import { runNvidiaSmi } from "./run-nvidia-smi.ts";
import { resolveExecutable } from "./software-fingerprint.ts";

/** Limits a GPU must be within to count as idle. */
export interface IdleLimits {
  /** @default 65 (the subnet's v2 gate) */
  maxTemperatureC: number;
  /** @default 5 (the subnet's v2 gate) */
  maxUtilizationPercent: number;
  /** Memory in use, MiB; leftovers of an earlier container show here. @default 1024 */
  maxMemoryUsedMib: number;
}

/** Options of {@link waitForGpuIdle}. Every field is optional. */
export interface WaitForGpuIdleOptions extends Partial<IdleLimits> {
  /** nvidia-smi to sample with. @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /** Environment of nvidia-smi. @default process.env */
  env?: Record<string, string | undefined>;
  /**
   * Profile in use (a built-in name or a file): its `gpuCount` is how many GPUs every sample must
   * show. "none" on a machine without nvidia-smi returns idle at once (local development).
   */
  profile?: string;
  /** GPUs every sample must show; overrides the profile's `gpuCount`. */
  gpuCount?: number;
  /** Consecutive idle samples needed. @default 3 */
  samples?: number;
  /** Time between samples, ms. @default 2000 */
  intervalMs?: number;
  /** Give up after this long, ms. @default 300000 */
  timeoutMs?: number;
  /** Cancels the wait (rejects with `cancelled`). */
  signal?: AbortSignal;
}

/** Result of {@link waitForGpuIdle}. */
export interface IdleGateResult {
  /** True when `samples` consecutive samples were idle before the timeout. */
  idle: boolean;
  /** Samples taken in all. */
  samplesTaken: number;
  /** Time spent, ms. */
  waitedMs: number;
  /** Why the last sample was not idle, one entry per GPU and reason; empty when idle. */
  reasons: string[];
  /** GPUs of the last sample. */
  gpus: Gpu[];
}

/** Why each GPU is not idle under the limits; empty when all are idle. Pure. */
export function idleViolations(gpus: Gpu[], limits: IdleLimits): string[] {
  const reasons: string[] = [];
  for (const gpu of gpus) {
    const at = `gpu ${gpu.index}`;
    if (gpu.temperatureC < 0) reasons.push(`${at}: temperature unknown`);
    else if (gpu.temperatureC > limits.maxTemperatureC)
      reasons.push(`${at}: ${gpu.temperatureC} C > ${limits.maxTemperatureC} C`);
    if (gpu.utilizationPercent < 0) reasons.push(`${at}: utilisation unknown`);
    else if (gpu.utilizationPercent > limits.maxUtilizationPercent) {
      reasons.push(`${at}: ${gpu.utilizationPercent}% busy > ${limits.maxUtilizationPercent}%`);
    }
    if (gpu.unreadable.includes("fb_memory_usage.used")) reasons.push(`${at}: memory in use unknown`);
    else if (Number(gpu.memoryUsedMib) > limits.maxMemoryUsedMib) {
      const who = gpu.processes.map((p) => `pid ${p.pid} ${p.name}`).join(", ");
      reasons.push(
        `${at}: ${gpu.memoryUsedMib} MiB in use > ${limits.maxMemoryUsedMib} MiB${who ? ` (${who})` : ""}`,
      );
    }
  }
  return reasons;
}

/**
 * Why a sample cannot pass whatever the GPUs do: no GPU at all, or not the count the profile
 * needs (a GPU lost or hidden; waiting does not bring it back). Empty when the count is right. Pure.
 */
export function gpuCountViolations(gpus: Gpu[], expected: number | undefined): string[] {
  if (gpus.length === 0) {
    return [`nvidia-smi shows no GPU${expected === undefined ? "" : `, the profile needs ${expected}`}`];
  }
  if (expected !== undefined && gpus.length !== expected) {
    return [`nvidia-smi shows ${gpus.length} GPU(s), the profile needs ${expected}`];
  }
  return [];
}

/**
 * Waits until every GPU is idle for `samples` consecutive samples `intervalMs` apart (the
 * subnet's v2 gate: <= 65 C, <= 5% utilisation, 3 samples 2 s apart), or until `timeoutMs`.
 * A busy sample starts the count again. Each sample is one `nvidia-smi -q -x`. A sample with no
 * GPU, or not the profile's GPU count, ends the wait at once, not idle: zero GPUs never pass.
 * Resolves with `idle: false` and the reasons on timeout; rejects when nvidia-smi fails or on abort.
 */
export async function waitForGpuIdle(options: WaitForGpuIdleOptions = {}): Promise<IdleGateResult> {
  const started = Date.now();
  const limits: IdleLimits = {
    maxTemperatureC: options.maxTemperatureC ?? 65,
    maxUtilizationPercent: options.maxUtilizationPercent ?? 5,
    maxMemoryUsedMib: options.maxMemoryUsedMib ?? 1024,
  };
  const needed = Math.max(1, options.samples ?? 3);
  const intervalMs = options.intervalMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const env = options.env ?? process.env;
  const result = (idle: boolean, samplesTaken: number, reasons: string[], gpus: Gpu[]): IdleGateResult => ({
    idle,
    samplesTaken,
    waitedMs: Date.now() - started,
    reasons,
    gpus,
  });
  const smi = options.nvidiaSmiPath ?? "nvidia-smi";
  if (options.profile === "none" && !(await resolveExecutable(smi, env))) return result(true, 0, [], []);
  const expected =
    options.gpuCount ??
    (options.profile === undefined ? undefined : loadHardwareProfile(options.profile).gpuCount);

  let taken = 0;
  let streak = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const { gpus } = parseNvidiaSmiXml(
      await runNvidiaSmi(["-q", "-x"], { nvidiaSmiPath: smi, env, signal: options.signal }),
    );
    taken += 1;
    const missing = gpuCountViolations(gpus, expected);
    if (missing.length > 0) return result(false, taken, missing, gpus);
    const reasons = idleViolations(gpus, limits);
    streak = reasons.length === 0 ? streak + 1 : 0;
    if (streak >= needed) return result(true, taken, [], gpus);
    if (Date.now() - started + intervalMs > timeoutMs)
      return result(
        false,
        taken,
        reasons.length ? reasons : ["not enough idle samples before the timeout"],
        gpus,
      );
    await sleep(intervalMs, options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(new CacheonError("cancelled", "waiting for idle GPUs was cancelled"));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
