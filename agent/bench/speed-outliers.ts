import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { median } from "../../shared/stats/summarise.ts";

/** Options of {@link speedOutliers}. */
export interface SpeedOutliersOptions {
  /** The arm's outputs. */
  arm: readonly GeneratedOutput[];
  /** The baseline's outputs of the same requests (the opening baseline's). */
  baseline: readonly GeneratedOutput[];
  /**
   * A request is an outlier when its decode time (first to k-th token) against the baseline's is
   * this many times faster, or slower, than the arm's median. @default 3
   */
  factor?: number;
  /**
   * Requests with fewer tokens (k, the fewer of the two) are left out: over a few tokens, several
   * tokens per chunk and timer noise make decode times meaningless. @default 32
   */
  minTokens?: number;
}

/** The decode ratio of an answer that arrived in one piece. */
const atOnce = 1e12;

/** The code that starts a speed-outlier finding. */
export const speedOutlierCode = "speed-outliers";

/**
 * Looks for requests the arm answered in another way than the rest: an honest server decodes at
 * much the same speed against the baseline on every prompt of a workload (prefill varies with
 * queueing; decoding hardly), while answers looked up in a table of precomputed responses (or a
 * cache) arrive at once, and a server that is honest only on prompts it takes for checks decodes
 * those at another speed. Compares each request's decode-time ratio (baseline / arm, from the
 * first token to the k-th, k the fewer tokens) with the arm's median; probes are left out (they
 * repeat on purpose). Returns a finding line naming the requests, or undefined. Pure.
 */
export function speedOutliers(options: SpeedOutliersOptions): string | undefined {
  const factor = options.factor ?? 3;
  const minTokens = options.minTokens ?? 32;
  const base = new Map(options.baseline.map((o) => [`${o.repetition}/${o.requestIndex}`, o]));
  const rows: { at: string; prompt: string; ttft: number; decode: number }[] = [];
  for (const a of options.arm) {
    const b = base.get(`${a.repetition}/${a.requestIndex}`);
    if (a.kind === "probe" || !a.ok || !b?.ok || b.promptId !== a.promptId) continue;
    const at = a.tokenTimesMs ?? [];
    const bt = b.tokenTimesMs ?? [];
    const k = Math.min(at.length, bt.length);
    if (k < minTokens) continue;
    const baseDecode = (bt[k - 1] as number) - (bt[0] as number);
    const armDecode = (at[k - 1] as number) - (at[0] as number);
    if (!(baseDecode > 0) || !(armDecode >= 0)) continue;
    // An answer streamed all at once decodes as fast as can be (a finite stand-in, so medians work).
    const decode = armDecode > 0 ? baseDecode / armDecode : atOnce;
    rows.push({
      at: `${a.repetition}/${a.requestIndex}`,
      prompt: a.promptId,
      ttft: (bt[0] as number) / (at[0] as number),
      decode,
    });
  }
  if (rows.length < 3) return undefined;
  const mDecode = median(rows.map((r) => r.decode));
  const outliers = rows.filter((r) => r.decode > mDecode * factor || r.decode < mDecode / factor);
  if (outliers.length === 0) return undefined;
  const x = (v: number) => (v >= atOnce ? "at once" : `${v.toFixed(2)}x`);
  const shown = outliers
    .slice(0, 10)
    .map((r) => `${r.at} (${r.prompt}: decode ${x(r.decode)}, TTFT ${x(r.ttft)})`)
    .join(", ");
  return `${speedOutlierCode}: ${outliers.length} of ${rows.length} requests decoded more than ${factor}x faster or slower than the arm's own typical speed against the baseline (median ${x(mDecode)}): ${shown}${outliers.length > 10 ? ", ..." : ""}; answers may be precomputed or cached, or some prompts served differently`;
}
