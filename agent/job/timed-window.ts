import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { GpuActivity } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { PullQueue } from "../containers/pull-queue.ts";
import {
  type GpuProofThresholds,
  gpuActivityOf,
  gpuProofFindings,
  type SampledGpuActivity,
} from "./gpu-proof.ts";

/** What an arm's timed window measured besides the requests. */
export interface TimedWindowFigures {
  /** GPU use of the window; unset when the arm was given no GPUs. */
  gpuActivity?: GpuActivity;
  /** Findings the figures raise (ArmSummary.findings). */
  findings: string[];
}

/** An open timed window; close it exactly once, when the measurement ends (also when it fails). */
export interface TimedWindow {
  close(): Promise<TimedWindowFigures>;
}

/** Opens an arm's timed window. */
export type OpenTimedWindow = (input: {
  armId: string;
  /** The arm's container, whose processes are looked for on the GPUs. */
  containerId: string;
  signal: AbortSignal;
}) => Promise<TimedWindow>;

/** Starts sampling the GPUs beside the measurement (agent/hardware/gpu-sampler.ts startGpuSampler). */
export type StartGpuSampler = (options: {
  nvidiaSmiPath?: string;
  env?: Record<string, string | undefined>;
  intervalMs?: number;
  signal?: AbortSignal;
}) => Promise<{ stop(): Promise<SampledGpuActivity> }>;

/** Options of {@link createTimedWindows}. */
export interface TimedWindowOptions {
  docker: Docker;
  /** The job's pulls: held while a window is open. */
  pulls: PullQueue;
  /** Pause pulls while an arm is timed. @default true */
  pausePulls?: boolean;
  /** GPUs the arms are given by the profile; 0 samples nothing (no GPUs, nothing to prove). */
  expectedGpus: number;
  /** Samples the GPUs; without one, a window with GPUs to prove is a finding. */
  startSampler?: StartGpuSampler;
  nvidiaSmiPath?: string;
  env?: Record<string, string | undefined>;
  /** Time between GPU samples, ms. @default 500 */
  sampleIntervalMs?: number;
  thresholds?: GpuProofThresholds;
  /** Tells what the window waits for (a pull to finish). */
  onWait?: (armId: string, message: string) => void;
  logger?: Logger;
}

/**
 * The job's timed windows: while one is open no pull runs (one in progress is let finish first,
 * so every arm is timed on an equally quiet machine) and the GPUs are sampled by processes of
 * their own (the measuring event loop only reads a pipe); closing it resumes the pulls and turns
 * the samples, with the container's host pids, into the arm's GPU figures and findings.
 */
export function createTimedWindows(options: TimedWindowOptions): OpenTimedWindow {
  const logger = options.logger ?? silentLogger;
  return async ({ armId, containerId, signal }) => {
    if (options.pausePulls ?? true) {
      if (options.pulls.pending() > 0)
        options.onWait?.(armId, "waiting for a running pull to finish before timing");
      await options.pulls.pause();
    }
    const resume = () => {
      if (options.pausePulls ?? true) options.pulls.resume();
    };
    if (options.expectedGpus === 0) {
      return {
        close: async () => {
          resume();
          return { findings: [] };
        },
      };
    }
    const pidsAtStart = await containerPids(options.docker, containerId);
    let sampler: { stop(): Promise<SampledGpuActivity> } | undefined;
    const problems: string[] = [];
    const startedAtMs = Date.now();
    if (!options.startSampler) problems.push("no GPU sampler in this agent");
    else {
      try {
        sampler = await options.startSampler({
          ...(options.nvidiaSmiPath ? { nvidiaSmiPath: options.nvidiaSmiPath } : {}),
          ...(options.env ? { env: options.env } : {}),
          intervalMs: options.sampleIntervalMs ?? 500,
          signal,
        });
      } catch (error) {
        problems.push(`the GPU sampler did not start: ${CacheonError.from(error).message}`);
      }
    }
    return {
      async close() {
        try {
          const sampled: SampledGpuActivity = sampler
            ? await sampler.stop()
            : { startedAtMs, stoppedAtMs: Date.now(), intervalMs: 0, gpus: [], problems: [] };
          sampled.problems = [...problems, ...sampled.problems];
          const pids = [...new Set([...pidsAtStart, ...(await containerPids(options.docker, containerId))])];
          const gpuActivity = gpuActivityOf(sampled, pids);
          const findings = gpuProofFindings(gpuActivity, {
            expectedGpus: options.expectedGpus,
            ...(options.thresholds ? { thresholds: options.thresholds } : {}),
          });
          if (findings.length > 0) logger.warn("arm flagged by its GPU figures", { arm: armId, findings });
          return { gpuActivity, findings };
        } finally {
          resume();
        }
      },
    };
  };
}

/** Host pids of every process in a container (`docker top`); empty when it is gone. */
export async function containerPids(docker: Docker, containerId: string): Promise<number[]> {
  try {
    const top = (await docker.getContainer(containerId).top()) as {
      Titles?: string[];
      Processes?: string[][];
    };
    const column = top.Titles?.indexOf("PID") ?? -1;
    if (column < 0) return [];
    return (top.Processes ?? [])
      .map((row) => Number(row[column]))
      .filter((pid) => Number.isInteger(pid) && pid > 0);
  } catch {
    return [];
  }
}
