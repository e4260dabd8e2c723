import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { normalDensity, normalUpperTail } from "../../shared/stats/normal-distribution.ts";

/** Options of {@link spendingBoundaries}. */
export interface SpendingBoundaryOptions {
  /** Looks at the data, the last one final (1 to 20). */
  looks: number;
  /** Total one-sided error to spend over all looks (0 < rate < 0.5). */
  rate: number;
  /**
   * Shape of the Hwang-Shih-DeCani spending function rate x (1 - e^(-gamma t)) / (1 - e^(-gamma))
   * at information fraction t = look / looks: -4 spends little early (close to O'Brien-Fleming's
   * boundaries, high at first, near the fixed-sample value at the end), 0 spends evenly, 1 spends
   * early (close to Pocock's constant boundary).
   */
  gamma: number;
}

/**
 * One-sided group-sequential boundaries in z units, one per look, for a statistic that is a
 * standardised sum of independent normal increments of equal information (Z_k = S_k / sqrt(k)):
 * under the null, the chance that Z crosses boundary k at look k, having stayed below the earlier
 * ones, is exactly the share of `rate` the spending function releases between looks k-1 and k,
 * so the chance of ever crossing is `rate` however many looks are taken (Lan and DeMets' error
 * spending; the crossing probabilities by Armitage, McPherson and Rowe's recursive integration on
 * a grid). The same boundaries bound the other error: applied to Z_k - theta x sqrt(k) under an
 * alternative theta, they are the futility boundaries of beta spending. Pure and deterministic;
 * results are cached.
 */
export function spendingBoundaries(options: SpendingBoundaryOptions): number[] {
  const { looks, rate, gamma } = options;
  if (!Number.isInteger(looks) || looks < 1 || looks > 20) {
    throw new CacheonError("invalid-argument", `looks must be a whole number from 1 to 20, got ${looks}`);
  }
  if (!(rate > 0 && rate < 0.5)) {
    throw new CacheonError("invalid-argument", `rate must be above 0 and below 0.5, got ${rate}`);
  }
  if (!Number.isFinite(gamma) || Math.abs(gamma) > 40) {
    throw new CacheonError("invalid-argument", `gamma must be a number from -40 to 40, got ${gamma}`);
  }
  const key = `${looks}/${rate}/${gamma}`;
  const cached = cache.get(key);
  if (cached) return [...cached];
  const spent = (k: number) => spending(rate, gamma, k / looks);
  const grid = new SumGrid(looks);
  const boundaries: number[] = [];
  for (let k = 1; k <= looks; k++) {
    const target = spent(k) - spent(k - 1);
    // Crossing probability falls as the boundary rises: bisect on the boundary of the sum S_k.
    let lo = -10 * Math.sqrt(k);
    let hi = 12 * Math.sqrt(k);
    for (let i = 0; i < 50; i++) {
      const mid = (lo + hi) / 2;
      if (grid.crossing(mid) > target) lo = mid;
      else hi = mid;
    }
    const sumBoundary = (lo + hi) / 2;
    boundaries.push(sumBoundary / Math.sqrt(k));
    grid.advance(sumBoundary);
  }
  cache.set(key, boundaries);
  return [...boundaries];
}

/**
 * The chance that Z_k = S_k / sqrt(k) (S a sum of independent N(drift, 1) increments) is at or
 * above boundaries[k-1] at some look k, computed by the same integration as spendingBoundaries:
 * for checking a design, or the power of one at an alternative. Pure.
 */
export function crossingProbability(boundaries: readonly number[], drift = 0): number {
  if (boundaries.length < 1 || boundaries.length > 20) {
    throw new CacheonError("invalid-argument", `give 1 to 20 boundaries, got ${boundaries.length}`);
  }
  const grid = new SumGrid(boundaries.length, drift);
  let total = 0;
  for (const [i, z] of boundaries.entries()) {
    const b = z * Math.sqrt(i + 1);
    total += grid.crossing(b);
    grid.advance(b);
  }
  return total;
}

const cache = new Map<string, number[]>();

function spending(rate: number, gamma: number, t: number): number {
  if (t <= 0) return 0;
  if (t >= 1) return rate;
  if (Math.abs(gamma) < 1e-9) return rate * t;
  return (rate * (1 - Math.exp(-gamma * t))) / (1 - Math.exp(-gamma));
}

// Grid step of the sum S, in units of one increment's standard deviation: fine enough that
// crossing probabilities of 1e-4 are right to a few parts in a thousand.
const step = 0.02;

/**
 * The sub-density of the sum S_k on the paths that have not crossed any boundary yet, on a
 * uniform grid that ends exactly at the last boundary (trapezoid rule, the last interval
 * shorter), advanced one look at a time by convolving with the increment's normal density.
 */
class SumGrid {
  readonly #lo: number;
  readonly #drift: number;
  /** Points of the grid (uniform, then the boundary itself) and their trapezoid weights. */
  #points: Float64Array | undefined;
  #weighted: Float64Array | undefined;

  constructor(looks: number, drift = 0) {
    this.#drift = drift;
    this.#lo = Math.min(0, drift * looks) - 10 * Math.sqrt(looks);
  }

  /** P(not crossed before, S_k >= b). */
  crossing(b: number): number {
    const points = this.#points;
    const weighted = this.#weighted;
    if (!points || !weighted) return normalUpperTail(b - this.#drift);
    let sum = 0;
    for (let i = 0; i < points.length; i++) {
      const m = weighted[i] as number;
      if (m > 1e-300) sum += m * normalUpperTail(b - (points[i] as number) - this.#drift);
    }
    return sum;
  }

  /** Moves to the next look, keeping only the paths below b at this one. */
  advance(b: number): void {
    const uniform = Math.max(1, Math.ceil((b - this.#lo) / step));
    const points = new Float64Array(uniform + 1);
    for (let j = 0; j < uniform; j++) points[j] = this.#lo + j * step;
    points[uniform] = Math.max(b, this.#lo);
    const density = new Float64Array(points.length);
    const before = this.#points;
    const mass = this.#weighted;
    // Increments beyond 9 standard deviations do not matter here. Both grids are uniform from the
    // same origin but for their last point, so the density between uniform points is a kernel of
    // their index difference.
    const reach = Math.ceil(9 / step);
    const kernel = new Float64Array(2 * reach + 1);
    for (let d = -reach; d <= reach; d++) kernel[d + reach] = normalDensity(d * step - this.#drift);
    for (let j = 0; j < points.length; j++) {
      const s = points[j] as number;
      if (!before || !mass) {
        density[j] = normalDensity(s - this.#drift);
        continue;
      }
      const last = before.length - 1;
      let sum = (mass[last] as number) * normalDensity(s - (before[last] as number) - this.#drift);
      if (j === points.length - 1) {
        for (let i = 0; i < last; i++) {
          const d = s - (before[i] as number) - this.#drift;
          if (d > -9 && d < 9) sum += (mass[i] as number) * normalDensity(d);
        }
      } else {
        const from = Math.max(0, j - reach);
        const to = Math.min(last - 1, j + reach);
        for (let i = from; i <= to; i++) sum += (mass[i] as number) * (kernel[j - i + reach] as number);
      }
      density[j] = sum;
    }
    const weighted = new Float64Array(points.length);
    for (let j = 0; j < points.length; j++) {
      const left = j > 0 ? (points[j] as number) - (points[j - 1] as number) : 0;
      const right = j < points.length - 1 ? (points[j + 1] as number) - (points[j] as number) : 0;
      weighted[j] = ((left + right) / 2) * (density[j] as number);
    }
    this.#points = points;
    this.#weighted = weighted;
  }
}
