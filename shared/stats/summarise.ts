import { create } from "@bufbuild/protobuf";
import { type Distribution, DistributionSchema } from "../gen/cacheon/v1/metrics_pb.ts";

/**
 * The p-th percentile (0..100) of values already sorted ascending, by linear interpolation between
 * closest ranks (numpy's default), so p50 of [1, 2] is 1.5. NaN for an empty list.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (rank - low);
}

/** Arithmetic mean; NaN for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (n - 1); 0 for fewer than two values. */
export function standardDeviation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  let sum = 0;
  for (const v of values) sum += (v - m) ** 2;
  return Math.sqrt(sum / (values.length - 1));
}

/** Coefficient of variation (stddev / mean); 0 for fewer than two values or a zero mean. */
export function coefficientOfVariation(values: readonly number[]): number {
  const m = mean(values);
  if (values.length < 2 || m === 0) return 0;
  return standardDeviation(values) / Math.abs(m);
}

/** Median; NaN for an empty list. */
export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/**
 * Summarises values into the contract's Distribution (mean, p50, p90, p99, min, max, count).
 * Non-finite values are dropped (they mean "not measured"); an empty input gives count 0 and
 * zeros, so a summary never carries NaN over the wire.
 */
export function summarise(values: Iterable<number>): Distribution {
  const sorted: number[] = [];
  for (const v of values) if (Number.isFinite(v)) sorted.push(v);
  sorted.sort((a, b) => a - b);
  if (sorted.length === 0) return create(DistributionSchema, {});
  return create(DistributionSchema, {
    mean: mean(sorted),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    count: sorted.length,
  });
}
