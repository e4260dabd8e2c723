import { setTimeout as sleep } from "node:timers/promises";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { Gpu } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { parseNvidiaSmiXml } from "../hardware/parse-nvidia-smi-xml.ts";
import { runNvidiaSmi } from "../hardware/run-nvidia-smi.ts";
import { resolveExecutable } from "../hardware/software-fingerprint.ts";

/** What the check after an arm found. */
export interface GpuRelease {
  /** True when every GPU was free (no process, memory released) by the end of the check. */
  released: boolean;
  /** Whether it came to a reset: none needed, done (and the GPUs came back), or refused by the platform. */
  reset: "not-needed" | "done" | "refused";
  /** What held the GPUs when the arm's container was gone (empty when nothing did). */
  left: string[];
  /** Why the GPUs are still not free; empty when released. */
  reasons: string[];
}

/** The check after one arm, as the job gives it to runArm. */
export type CheckGpusReleasedFn = (input: { armId: string; signal: AbortSignal }) => Promise<GpuRelease>;

/** Options of {@link checkGpusReleased}. */
export interface CheckGpusReleasedOptions {
  /** nvidia-smi to run. @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /** Its environment. @default process.env */
  env?: Record<string, string | undefined>;
  /** The job's profile: "none" with no nvidia-smi on the machine has nothing to check. */
  profile: string;
  /** How long the driver gets to release memory after the container is gone, ms. @default 30000 */
  timeoutMs?: number;
  /** Time between samples, ms. @default 1000 */
  intervalMs?: number;
  /** Memory a free GPU may still show in use, MiB. @default 1024 (as the idle gate) */
  maxMemoryUsedMib?: number;
  /** Try `nvidia-smi --gpu-reset` on GPUs still held but without processes. @default true */
  reset?: boolean;
  signal?: AbortSignal;
}

/** Why each GPU is not free: a process on it, or memory in use above the limit. Pure. */
export function releaseViolations(gpus: readonly Gpu[], maxMemoryUsedMib: number): string[] {
  const reasons: string[] = [];
  for (const gpu of gpus) {
    for (const p of gpu.processes) {
      reasons.push(`gpu ${gpu.index}: pid ${p.pid} ${p.name || "(unnamed)"} holds ${p.usedMemoryMib} MiB`);
    }
    if (gpu.processes.length === 0 && Number(gpu.memoryUsedMib) > maxMemoryUsedMib) {
      reasons.push(`gpu ${gpu.index}: ${gpu.memoryUsedMib} MiB in use with no process`);
    }
  }
  return reasons;
}

/**
 * The check after every arm, once its container is removed: the GPUs must come free (no process,
 * memory released) within `timeoutMs`. A GPU still held with no process left is reset where the
 * platform allows (`nvidia-smi --gpu-reset -i N`; VMs and NVSwitch boards often refuse). A
 * failing nvidia-smi is not a pass: what left the driver unable to answer left the GPUs unusable.
 * Never throws but for cancellation.
 */
export async function checkGpusReleased(options: CheckGpusReleasedOptions): Promise<GpuRelease> {
  const smi = options.nvidiaSmiPath ?? "nvidia-smi";
  const env = options.env ?? process.env;
  const max = options.maxMemoryUsedMib ?? 1024;
  const free: GpuRelease = { released: true, reset: "not-needed", left: [], reasons: [] };
  if (options.profile === "none" && !(await resolveExecutable(smi, env))) return free;
  const sample = async (): Promise<{ gpus: Gpu[]; reasons: string[] }> => {
    try {
      const { gpus } = parseNvidiaSmiXml(
        await runNvidiaSmi(["-q", "-x"], { nvidiaSmiPath: smi, env, signal: options.signal }),
      );
      return { gpus, reasons: releaseViolations(gpus, max) };
    } catch (error) {
      const err = CacheonError.from(error);
      if (err.code === "cancelled") throw err;
      return { gpus: [], reasons: [`nvidia-smi could not read the GPUs: ${err.message}`] };
    }
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = await sample();
  const left = last.reasons;
  while (last.reasons.length > 0 && Date.now() < deadline) {
    await sleep(options.intervalMs ?? 1000, undefined, { signal: options.signal }).catch(() => {
      throw new CacheonError("cancelled", "the GPU check after an arm was cancelled");
    });
    last = await sample();
  }
  if (last.reasons.length === 0) return { ...free, left };
  // Memory held with no process left: the driver did not release it. A reset may; a GPU with a
  // process on it is never reset (the process is not ours to kill).
  const stuck = last.gpus.filter((g) => g.processes.length === 0 && Number(g.memoryUsedMib) > max);
  if (options.reset === false || stuck.length === 0) {
    return { released: false, reset: "refused", left, reasons: last.reasons };
  }
  const refusals: string[] = [];
  for (const gpu of stuck) {
    try {
      await runNvidiaSmi(["--gpu-reset", "-i", String(gpu.index)], {
        nvidiaSmiPath: smi,
        env,
        signal: options.signal,
      });
    } catch (error) {
      refusals.push(`reset of gpu ${gpu.index} refused: ${CacheonError.from(error).message}`);
    }
  }
  last = await sample();
  if (last.reasons.length === 0) return { released: true, reset: "done", left, reasons: [] };
  return { released: false, reset: "refused", left, reasons: [...last.reasons, ...refusals] };
}
