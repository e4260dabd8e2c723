import { coefficientOfVariation, median } from "./summarise.ts";

/** One request's times to token k (the fields of cacheon.v1.TokenKTiming the statistic reads). */
export interface TokenKTimes {
  repetition: number;
  /** The arm's time from sending to its k-th token, ms. */
  armMs: number;
  /** The opening and closing baselines' times to their k-th token for the same request, ms. */
  openingMs: number;
  closingMs: number;
}

/** Options of {@link tokenKSpeed}. */
export interface TokenKSpeedOptions {
  /**
   * Where the arm ran between the bookends: 0 right after the opening baseline, 1 right before the
   * closing one. With drift correction each request's baseline time is read off the line through
   * the two bookends' times at this place. @default 0.5
   */
  position?: number;
  /** Interpolate between the bookends (true) or take their mean (false). @default true */
  driftCorrection?: boolean;
}

/** An arm's speed by time to token k. */
export interface TokenKSpeed {
  /**
   * Median over every timed request (all repetitions) of baseline time / arm time to token k:
   * above 1 the arm is faster. NaN when no request could be timed.
   */
  speed: number;
  /** Requests the median is over. */
  requests: number;
  /** The same median within each repetition, by repetition (the spread of these is the noise). */
  repetitionSpeeds: number[];
  /** Coefficient of variation of repetitionSpeeds (0 with one repetition). */
  cv: number;
  /**
   * The same spread, robust to one odd repetition (a pause, a neighbour): from 5 repetitions on,
   * 1.4826 x the median absolute deviation over the median, with small-sample factors
   * (robustCoefficientOfVariation); below 5, `cv`. The speed is a median over requests, which one
   * odd repetition barely moves, so its noise should not be read off that repetition either.
   */
  robustCv: number;
}

/**
 * Scores speed as the subnet's first version did: per request, the baseline's time to token k
 * against the arm's, k being the fewest tokens any of them produced for that request (so a server
 * that stops early, or holds tokens back, gains nothing); the arm's speed is the median of those
 * ratios. The baseline's time is interpolated between the opening and closing bookends at the
 * arm's place, so a pod that drifted during the job does not favour the arms run first. Pure.
 */
export function tokenKSpeed(timings: readonly TokenKTimes[], options: TokenKSpeedOptions = {}): TokenKSpeed {
  const position = Math.min(1, Math.max(0, options.position ?? 0.5));
  const drift = options.driftCorrection ?? true;
  const all: number[] = [];
  const byRepetition = new Map<number, number[]>();
  for (const t of timings) {
    const baseline = drift
      ? t.openingMs + (t.closingMs - t.openingMs) * position
      : (t.openingMs + t.closingMs) / 2;
    const ratio = baseline / t.armMs;
    if (!Number.isFinite(ratio) || !(ratio > 0)) continue;
    all.push(ratio);
    const list = byRepetition.get(t.repetition) ?? [];
    list.push(ratio);
    byRepetition.set(t.repetition, list);
  }
  const repetitionSpeeds = [...byRepetition.entries()].sort(([a], [b]) => a - b).map(([, r]) => median(r));
  return {
    speed: all.length > 0 ? median(all) : Number.NaN,
    requests: all.length,
    repetitionSpeeds,
    cv: coefficientOfVariation(repetitionSpeeds),
    robustCv: robustCoefficientOfVariation(repetitionSpeeds),
  };
}

// Croux and Rousseeuw's small-sample factors making 1.4826 x MAD unbiased for normal data.
const madFactors: Record<number, number> = { 5: 1.206, 6: 1.2, 7: 1.14, 8: 1.129, 9: 1.107 };

/**
 * The coefficient of variation, robustly: from 5 values on, 1.4826 x the median absolute deviation
 * (times the small-sample factor) over the median; for fewer, the plain one. Pure.
 */
export function robustCoefficientOfVariation(values: readonly number[]): number {
  const n = values.length;
  if (n < 5) return coefficientOfVariation(values);
  const m = median(values);
  if (!(m > 0)) return coefficientOfVariation(values);
  const mad = median(values.map((v) => Math.abs(v - m)));
  return (1.4826 * mad * (madFactors[n] ?? n / (n - 0.8))) / m;
}
