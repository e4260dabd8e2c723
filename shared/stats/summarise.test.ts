import { describe, expect, it } from "vitest";
import { coefficientOfVariation, median, percentile, standardDeviation, summarise } from "./summarise.ts";

describe("percentile", () => {
  it("interpolates between closest ranks like numpy", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 50)).toBe(5.5);
    expect(percentile(sorted, 90)).toBeCloseTo(9.1, 10);
    expect(percentile(sorted, 99)).toBeCloseTo(9.91, 10);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile(sorted, 100)).toBe(10);
  });
  it("is NaN for no values and rejects p outside 0..100", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe("summarise", () => {
  it("gives mean, percentiles, min, max and count regardless of input order", () => {
    const d = summarise([10, 1, 4, 3, 2]);
    expect(d.mean).toBe(4);
    expect(d.p50).toBe(3);
    expect(d.min).toBe(1);
    expect(d.max).toBe(10);
    expect(d.count).toBe(5);
    expect(d.p90).toBeCloseTo(7.6, 10);
  });
  it("drops non-finite values and never emits NaN for an empty input", () => {
    expect(summarise([Number.NaN, 2, Number.POSITIVE_INFINITY]).count).toBe(1);
    const empty = summarise([]);
    expect(empty.count).toBe(0);
    expect(empty.mean).toBe(0);
  });
});

describe("spread", () => {
  it("computes sample standard deviation and coefficient of variation", () => {
    expect(standardDeviation([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138, 3);
    expect(coefficientOfVariation([10, 10, 10])).toBe(0);
    expect(coefficientOfVariation([1])).toBe(0);
    expect(coefficientOfVariation([9, 11])).toBeCloseTo(Math.SQRT2 / 10, 10);
    expect(median([3, 1, 2])).toBe(2);
  });
});
