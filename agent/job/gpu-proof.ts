import { create } from "@bufbuild/protobuf";
import { type GpuActivity, GpuActivitySchema } from "../../shared/gen/cacheon/v1/result_pb.ts";

/** One GPU's figures over a window, as the GPU sampler gives them (agent/hardware/gpu-sampler.ts). */
export interface SampledGpu {
  index: number;
  uuid: string;
  /** Samples with a known utilisation. */
  samples: number;
  meanUtilizationPercent: number;
  maxUtilizationPercent: number;
  /** Share of samples with utilisation above zero. */
  activeFraction: number;
  maxMemoryUsedMib: number;
  /** Host pids seen holding memory on the GPU. */
  pids: number[];
}

/** What the GPU sampler returns for a window (the parts the proof uses). */
export interface SampledGpuActivity {
  startedAtMs: number;
  stoppedAtMs: number;
  intervalMs: number;
  gpus: SampledGpu[];
  /** Why the figures are incomplete; empty when complete. */
  problems: string[];
}

/**
 * Where the proof draws the line, from the sampler on a real 4x H200 (test/fixtures/nvidia-smi/
 * nvidia-h200-x4-real/gpu-activity-{busy,idle}.json, 500 ms samples): a GPU running a matrix-product
 * loop averaged 97.3% (active in every sample); an idle GPU 0%; and a GPU whose process held
 * 8.8 GiB but computed nothing also 0%. A server doing a 72B model's work keeps the GPUs its
 * processes hold far above 10% through a timed window; one answering from a table or the CPU leaves
 * them at 0, whatever memory it grabbed to look busy.
 */
export interface GpuProofThresholds {
  /** Lowest mean utilisation, over the window, of the busiest GPU the arm's processes held, percent. @default 10 */
  minBusiestMeanUtilizationPercent: number;
}

/** Defaults of {@link GpuProofThresholds}. */
export const defaultGpuProofThresholds: GpuProofThresholds = { minBusiestMeanUtilizationPercent: 10 };

/** The contract's figures of an arm's window, marking the GPUs its container had a process on. Pure. */
export function gpuActivityOf(sampled: SampledGpuActivity, containerPids: readonly number[]): GpuActivity {
  const ours = new Set(containerPids);
  return create(GpuActivitySchema, {
    intervalMs: Math.max(0, Math.round(sampled.intervalMs)),
    windowS: Math.max(0, (sampled.stoppedAtMs - sampled.startedAtMs) / 1000),
    gpus: [...sampled.gpus]
      .sort((a, b) => a.index - b.index)
      .map((g) => ({
        index: g.index,
        uuid: g.uuid,
        samples: g.samples,
        meanUtilizationPercent: g.meanUtilizationPercent,
        maxUtilizationPercent: Math.max(0, Math.round(g.maxUtilizationPercent)),
        activeFraction: g.activeFraction,
        maxMemoryUsedMib: BigInt(Math.max(0, Math.round(g.maxMemoryUsedMib))),
        pids: [...g.pids].sort((a, b) => a - b),
        armProcess: g.pids.some((p) => ours.has(p)),
      })),
    containerPids: [...ours].sort((a, b) => a - b),
    problems: [...sampled.problems],
  });
}

/**
 * The findings an arm's GPU figures raise, as lines for ArmSummary.findings; empty when the
 * figures show its own processes doing work on the GPUs. Pure. Fails closed: figures that are
 * missing or incomplete are a finding too (the controller fails a flagged arm unless the
 * baselines are flagged alike, so a pod whose sampler broke decides nothing either way).
 */
export function gpuProofFindings(
  activity: GpuActivity,
  options: { expectedGpus: number; thresholds?: GpuProofThresholds },
): string[] {
  const thresholds = options.thresholds ?? defaultGpuProofThresholds;
  const sampled = activity.gpus.filter((g) => g.samples > 0 && g.meanUtilizationPercent >= 0);
  if (activity.problems.length > 0 || sampled.length < options.expectedGpus || sampled.length === 0) {
    const why = activity.problems.length > 0 ? activity.problems.join("; ") : "";
    return [
      `GPU use during the timed window could not be proven: ${sampled.length} of ${options.expectedGpus} GPUs sampled${why ? ` (${why})` : ""}`,
    ];
  }
  const findings: string[] = [];
  const held = sampled.filter((g) => g.armProcess);
  if (held.length === 0) {
    findings.push(
      "no process of the arm's container held memory on any GPU while it was timed: its answers did not come from the GPUs",
    );
  }
  // Judged on the GPUs the arm's own processes held: another process keeping some other GPU busy
  // proves nothing about the arm.
  const judged = held.length > 0 ? held : sampled;
  const busiest = Math.max(...judged.map((g) => g.meanUtilizationPercent));
  if (busiest < thresholds.minBusiestMeanUtilizationPercent) {
    findings.push(
      `the GPUs ${held.length > 0 ? "the arm's processes held " : ""}stayed idle while the arm was timed (busiest ${busiest.toFixed(1)}% on average, at least ${thresholds.minBusiestMeanUtilizationPercent}% expected): answers from a table or the CPU`,
    );
  }
  return findings;
}
