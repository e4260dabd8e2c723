import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { mean, median, standardDeviation } from "../../shared/stats/summarise.ts";

/** How much faster an arm gets on prompts it has seen, from the probe prompts repeated on purpose. */
export interface RepeatSpeedup {
  /**
   * Median over probe prompts of (time to token k the first time) / (median time to token k the
   * later times), k the fewest tokens of that prompt's outputs, divided by {@link drift}: 1.1 = 10%
   * faster on repeats than the run as a whole got. NaN when no probe was answered at least twice.
   */
  speedup: number;
  /** The same for the decode part alone (from the first token to the k-th), which prefix caching does not speed up. */
  decodeSpeedup: number;
  /**
   * How much faster the fresh prompts (seen once each) ran after the first repetition than in it:
   * median time to token k in the first repetition over that in the later ones. A machine busier
   * during the first repetition slows fresh prompts and probes alike, a cache only the probes. 1
   * when the workload has no fresh prompts in both (a fixed pool's, whose prompts all repeat).
   */
  drift: number;
  /** Probe prompts the medians are over. */
  probes: number;
  /** Each probe's speed-up (first time over the later times, over the drift), for the noise of the median. */
  perProbe: number[];
  /**
   * Standard error of log({@link speedup}): from the probes' spread, or from the request-to-request
   * spread of the fresh prompts where that says more (one or two probes have no spread to speak
   * of). On a log scale because a replay's ratios span orders of magnitude.
   */
  noise: number;
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

/** Time to the k-th token (1-based) of an output, NaN when it has fewer. */
const timeTo = (o: GeneratedOutput, k: number) => o.tokenTimesMs?.[k - 1] ?? Number.NaN;

/** Standard error of a median of these values (normal approximation, 1.25 x that of the mean); 0 for fewer than two. */
function medianError(values: readonly number[]): number {
  return values.length < 2 ? 0 : (1.25 * standardDeviation(values)) / Math.sqrt(values.length);
}

/** Median absolute deviation scaled to a standard deviation (robust to the odd stalled request). */
function robustSpread(values: readonly number[]): number {
  const m = median(values);
  return 1.4826 * median(values.map((v) => Math.abs(v - m)));
}

/**
 * The fresh prompts' drift between the first repetition and the later ones, and their relative
 * request-to-request spread within a repetition (each repetition against its own median).
 */
function freshDrift(fresh: readonly GeneratedOutput[]): {
  drift: number;
  spread: number;
  first: number;
  later: number;
} {
  const none = { drift: 1, spread: 0, first: 0, later: 0 };
  if (fresh.length === 0) return none;
  const k = Math.min(...fresh.map((o) => o.tokenTimesMs?.length ?? 0));
  const byRepetition = new Map<number, number[]>();
  for (const o of fresh) {
    const t = timeTo(o, k);
    if (!(t > 0)) continue;
    const list = byRepetition.get(o.repetition) ?? [];
    list.push(t);
    byRepetition.set(o.repetition, list);
  }
  const firstRepetition = Math.min(...byRepetition.keys());
  const first = byRepetition.get(firstRepetition) ?? [];
  const later = [...byRepetition].flatMap(([r, list]) => (r === firstRepetition ? [] : list));
  if (first.length === 0 || later.length === 0) return none;
  const relative = [...byRepetition.values()].flatMap((list) => {
    const m = median(list);
    return list.map((t) => t / m);
  });
  return {
    drift: median(first) / median(later),
    spread: robustSpread(relative),
    first: first.length,
    later: later.length,
  };
}

/**
 * The repeat speed-up of one arm's probe prompts: each probe is sent in every repetition, the
 * first time cold, and its speed-up is taken relative to how much faster the fresh prompts got
 * over the same repetitions. Without probes (a workload from a fixed pool, whose prompts all
 * repeat), every prompt seen in more than one repetition counts, and nothing corrects for drift.
 * Pure.
 */
export function repeatSpeedup(outputs: readonly GeneratedOutput[]): RepeatSpeedup {
  // Workloads from a fixed pool repeat every prompt in every repetition: then all are probes.
  const probesOnly = outputs.some((o) => o.kind === "probe");
  const answered = outputs.filter((o) => o.ok && (o.tokenTimesMs?.length ?? 0) > 0);
  const byPrompt = new Map<string, GeneratedOutput[]>();
  for (const o of answered) {
    if (probesOnly && o.kind !== "probe") continue;
    const list = byPrompt.get(o.promptId) ?? [];
    list.push(o);
    byPrompt.set(o.promptId, list);
  }
  const fresh = probesOnly ? freshDrift(answered.filter((o) => o.kind !== "probe")) : freshDrift([]);
  const totals: number[] = [];
  const decodes: number[] = [];
  let warmCount = 0;
  for (const list of byPrompt.values()) {
    const sorted = [...list].sort((a, b) => a.repetition - b.repetition);
    const [cold, ...warm] = sorted;
    if (!cold || warm.length === 0) continue;
    const k = Math.min(...sorted.map((o) => o.tokenTimesMs?.length ?? 0));
    const total = timeTo(cold, k) / median(warm.map((o) => timeTo(o, k))) / fresh.drift;
    if (Number.isFinite(total) && total > 0) {
      totals.push(total);
      warmCount += warm.length;
    }
    if (k >= 2) {
      const decode = (o: GeneratedOutput) => timeTo(o, k) - timeTo(o, 1);
      const later = median(warm.map(decode));
      // Replayed in one piece: decoding took no time at all.
      const ratio = later > 0 ? decode(cold) / later : atOnce;
      if (ratio > 0) decodes.push(Math.min(ratio, atOnce));
    }
  }
  const speedup = totals.length > 0 ? median(totals) : Number.NaN;
  // A probe's ratio is one cold request over the median of its warm ones, each as noisy as a fresh
  // request; the drift's two medians add their own error.
  const warmPerProbe = totals.length > 0 ? warmCount / totals.length : 1;
  const perProbeError = fresh.spread * Math.sqrt(1 + 1.5625 / warmPerProbe);
  const driftError = fresh.first > 0 ? 1.25 * fresh.spread * Math.sqrt(1 / fresh.first + 1 / fresh.later) : 0;
  const fromFresh =
    totals.length > 0 ? Math.hypot((1.25 * perProbeError) / Math.sqrt(totals.length), driftError) : 0;
  return {
    speedup,
    decodeSpeedup: decodes.length > 0 ? median(decodes) : Number.NaN,
    drift: fresh.drift,
    probes: totals.length,
    perProbe: totals,
    noise: Math.max(medianError(totals.map(Math.log)), fromFresh),
  };
}

/**
 * Flags an arm that gets faster on repeated prompts than the baseline does (a response cache,
 * even one that replays only somewhat faster): a finding line with the figures, or undefined when
 * the arm is within the margin, within three standard errors of timing noise (the probes' spread,
 * the fresh prompts' spread), or nothing could be measured. Pure.
 *
 * Missing a small cache in noise costs nothing: outside the probes no arm is timed twice on one
 * prompt, and probes are not scored for speed, so a cache has nothing to gain there.
 */
export function judgeProbes(options: JudgeProbesOptions): string | undefined {
  const margin = options.margin ?? 0.08;
  const arm = repeatSpeedup(options.arm);
  // Each bookend on its own: one's first time is not the other's repeat.
  const bookends = options.baselines.map(repeatSpeedup).filter((s) => Number.isFinite(s.speedup));
  if (!(arm.probes > 0) || bookends.length === 0) return undefined;
  const baseline = {
    speedup: mean(bookends.map((s) => s.speedup)),
    decodeSpeedup: mean(bookends.map((s) => s.decodeSpeedup)),
    drift: mean(bookends.map((s) => s.drift)),
    noise: Math.hypot(...bookends.map((s) => s.noise)) / bookends.length,
  };
  // Nothing makes a repeat legitimately slower: a baseline slower the second time is timing noise,
  // and holds the arm to no speed-up at all rather than to a slow-down.
  const reference = Math.max(1, baseline.speedup);
  const noise = 3 * Math.hypot(arm.noise, baseline.noise);
  if (arm.speedup <= reference * (1 + margin) || Math.log(arm.speedup / reference) <= noise) return undefined;
  const pct = (x: number) =>
    x >= atOnce ? "at once" : Number.isFinite(x) ? `${((x - 1) * 100).toFixed(1)}%` : "unknown";
  const drift = (s: { drift: number }) =>
    s.drift === 1 ? "" : `; fresh prompts ${pct(s.drift)} faster after the first repetition, taken out`;
  return `${probeFindingCode}: repeated probe prompts ran ${pct(arm.speedup)} faster than their first time (decode ${pct(arm.decodeSpeedup)}${drift(arm)}) while the baseline's ran ${pct(baseline.speedup)} faster (decode ${pct(baseline.decodeSpeedup)}${drift(baseline)}); more than ${(margin * 100).toFixed(0)}% beyond the baseline's and ${pct(Math.exp(noise))} of timing noise, over ${arm.probes} probe(s): responses may be cached or replayed`;
}
