import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { median, standardDeviation } from "../../shared/stats/summarise.ts";

/** How much faster an arm gets on prompts it has seen, from the probe prompts repeated on purpose. */
export interface RepeatSpeedup {
  /**
   * Median over probe prompts of (time to token k the first time) / (median time to token k the
   * later times), k the fewest tokens of that prompt's outputs: 1.1 = 10% faster on repeats. NaN
   * when no probe was answered at least twice.
   */
  speedup: number;
  /** The same for the decode part alone (from the first token to the k-th), which prefix caching does not speed up. */
  decodeSpeedup: number;
  /** Probe prompts the medians are over. */
  probes: number;
  /** Each probe's speed-up (first time over the later times), for the noise of the median. */
  perProbe: number[];
}

/** Options of {@link judgeProbes}. */
export interface JudgeProbesOptions {
  /** The arm's outputs (probes are those with kind "probe"). */
  arm: readonly GeneratedOutput[];
  /** The baseline arms' outputs (both bookends when there are two): their repeat speed-up is legitimate. */
  baselines: readonly (readonly GeneratedOutput[])[];
  /**
   * An arm whose repeat speed-up exceeds the baseline's by more than this fraction is flagged
   * (MLPerf's TEST04 fails a system 10% faster on repeated samples; here the baseline's own
   * prefix caching is allowed for). @default 0.08
   */
  margin?: number;
}

/** The speed-up of a repeat that arrived in one piece (a finite stand-in, so medians work). */
const atOnce = 1e9;

/** The code that starts a probe finding. */
export const probeFindingCode = "repeat-speedup";

/**
 * The repeat speed-up of one arm's probe prompts: each probe is sent in every repetition, the
 * first time cold. Without probes (a workload from a fixed pool, whose prompts all repeat), every
 * prompt seen in more than one repetition counts. Pure.
 */
export function repeatSpeedup(outputs: readonly GeneratedOutput[]): RepeatSpeedup {
  // Workloads from a fixed pool repeat every prompt in every repetition: then all are probes.
  const probesOnly = outputs.some((o) => o.kind === "probe");
  const byPrompt = new Map<string, GeneratedOutput[]>();
  for (const o of outputs) {
    if ((probesOnly && o.kind !== "probe") || !o.ok || (o.tokenTimesMs?.length ?? 0) === 0) continue;
    const list = byPrompt.get(o.promptId) ?? [];
    list.push(o);
    byPrompt.set(o.promptId, list);
  }
  const totals: number[] = [];
  const decodes: number[] = [];
  for (const list of byPrompt.values()) {
    const sorted = [...list].sort((a, b) => a.repetition - b.repetition);
    const [cold, ...warm] = sorted;
    if (!cold || warm.length === 0) continue;
    const k = Math.min(...sorted.map((o) => o.tokenTimesMs?.length ?? 0));
    const at = (o: GeneratedOutput, i: number) => o.tokenTimesMs?.[i] ?? Number.NaN;
    const total = at(cold, k - 1) / median(warm.map((o) => at(o, k - 1)));
    if (Number.isFinite(total) && total > 0) totals.push(total);
    if (k >= 2) {
      const decode = (o: GeneratedOutput) => at(o, k - 1) - at(o, 0);
      const later = median(warm.map(decode));
      // Replayed in one piece: decoding took no time at all.
      const ratio = later > 0 ? decode(cold) / later : atOnce;
      if (ratio > 0) decodes.push(Math.min(ratio, atOnce));
    }
  }
  return {
    speedup: totals.length > 0 ? median(totals) : Number.NaN,
    decodeSpeedup: decodes.length > 0 ? median(decodes) : Number.NaN,
    probes: totals.length,
    perProbe: totals,
  };
}

/** Standard error of a median of these values (normal approximation, 1.25 x that of the mean); 0 for fewer than two. */
function medianError(values: readonly number[]): number {
  return values.length < 2 ? 0 : (1.25 * standardDeviation(values)) / Math.sqrt(values.length);
}

/**
 * Flags an arm that gets faster on repeated prompts than the baseline does (a response cache,
 * even one that replays only somewhat faster): a finding line with the figures, or undefined when
 * the arm is within the margin, the probes disagree too much to tell (three standard errors of
 * the two medians), or nothing could be measured. Pure.
 */
export function judgeProbes(options: JudgeProbesOptions): string | undefined {
  const margin = options.margin ?? 0.08;
  const arm = repeatSpeedup(options.arm);
  const baseline = repeatSpeedup(options.baselines.flat());
  if (!(arm.probes > 0) || !Number.isFinite(baseline.speedup)) return undefined;
  // Nothing makes a repeat legitimately slower: a baseline slower the second time is timing noise,
  // and holds the arm to no speed-up at all rather than to a slow-down.
  const reference = Math.max(1, baseline.speedup);
  const excess = arm.speedup - reference;
  // A speed-up the probes do not agree on is timing noise (a busy machine, a slow first request),
  // not a cache: the excess must also stand three standard errors clear of it.
  const noise = Math.hypot(medianError(arm.perProbe), medianError(baseline.perProbe));
  if (excess <= reference * margin || excess <= 3 * noise) return undefined;
  const pct = (x: number) =>
    x >= atOnce ? "at once" : Number.isFinite(x) ? `${((x - 1) * 100).toFixed(1)}%` : "unknown";
  return `${probeFindingCode}: repeated probe prompts ran ${pct(arm.speedup)} faster than their first time (decode ${pct(arm.decodeSpeedup)}) while the baseline's ran ${pct(baseline.speedup)} faster (decode ${pct(baseline.decodeSpeedup)}); more than ${(margin * 100).toFixed(0)}% beyond the baseline's, over ${arm.probes} probe(s): responses may be cached or replayed`;
}
