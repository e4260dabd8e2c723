import type { Prompt } from "../workload/prompt.ts";

/** How an arm warms up (from WorkloadSpec.warmup_max_batches and warmup_tolerance). */
export interface WarmUpRule {
  /** Requests per batch (WorkloadSpec.warmup_requests). */
  size: number;
  /** Most batches; 1 is a single batch whatever its timing. */
  maxBatches: number;
  /** Largest relative difference of two consecutive batches' output tokens per second. */
  tolerance: number;
}

/**
 * The prompts of warm-up batch `index` (0-based): the next `size` warm-up prompts while the job has
 * them (fresh prompts, so a prefix cache does not make later batches look warm), else the last
 * full batch again. Empty when there is no warm-up. Pure.
 */
export function warmUpBatch(prompts: readonly Prompt[], size: number, index: number): Prompt[] {
  if (size < 1 || prompts.length === 0) return [];
  const batches = Math.max(1, Math.floor(prompts.length / size));
  const b = Math.min(index, batches - 1);
  return prompts.slice(b * size, b * size + size);
}

/**
 * Whether the server counts as warm after a batch: at least two batches run and the last two
 * agree within the tolerance in output tokens per second (a batch that produced nothing never
 * agrees). Pure.
 */
export function isWarm(throughputs: readonly number[], tolerance: number): boolean {
  if (throughputs.length < 2) return false;
  const last = throughputs.at(-1) as number;
  const before = throughputs.at(-2) as number;
  if (!(last > 0 && before > 0)) return false;
  return Math.abs(last / before - 1) <= tolerance;
}

/** The rule a workload asks for: one batch when warmup_max_batches is 0 or 1. */
export function warmUpRule(workload: {
  warmupRequests: number;
  warmupMaxBatches: number;
  warmupTolerance: number;
}): WarmUpRule {
  return {
    size: workload.warmupRequests,
    maxBatches: Math.max(1, workload.warmupMaxBatches),
    tolerance: Math.max(workload.warmupTolerance, 0),
  };
}
