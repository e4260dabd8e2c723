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
 * Where the proof draws the line. Set from the replayed captures of a real H200 (test/fixtures/
 * nvidia-smi/h200-x2-firecracker): a GPU running matrix products reads 100% in every sample, an
 * idle one 0% (4% in one sample as a load ended). A server doing a 72B model's work keeps its GPUs
 * far above 10% through the timed window; one answering from a table or the CPU stays at 0.
 */
export interface GpuProofThresholds {
  /** Lowest mean utilisation of the busiest GPU over the window, percent. @default 10 */
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
  const sampled = activity.gpus.filter((g) => g.samples > 0);
  if (activity.problems.length > 0 || sampled.length < options.expectedGpus || sampled.length === 0) {
    const why = activity.problems.length > 0 ? activity.problems.join("; ") : "";
    return [
      `GPU use during the timed window could not be proven: ${sampled.length} of ${options.expectedGpus} GPUs sampled${why ? ` (${why})` : ""}`,
    ];
  }
  const findings: string[] = [];
  if (!activity.gpus.some((g) => g.armProcess)) {
    findings.push(
      "no process of the arm's container held memory on any GPU while it was timed: its answers did not come from the GPUs",
    );
  }
  const busiest = Math.max(...sampled.map((g) => g.meanUtilizationPercent));
  if (busiest < thresholds.minBusiestMeanUtilizationPercent) {
    findings.push(
      `the GPUs stayed idle while the arm was timed (busiest GPU ${busiest.toFixed(1)}% on average, at least ${thresholds.minBusiestMeanUtilizationPercent}% expected): answers from a table or the CPU`,
    );
  }
  return findings;
}
