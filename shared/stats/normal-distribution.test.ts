import { describe, expect, it } from "vitest";
import { normalCdf, normalDensity, normalQuantile, normalUpperTail } from "./normal-distribution.ts";

describe("normal distribution", () => {
  it.each([
    // x, P(Z <= x) (tables to 1e-9 and beyond)
    [0, 0.5],
    [1, 0.841344746068543],
    [1.959963984540054, 0.975],
    [-1.959963984540054, 0.025],
    [2.5, 0.993790334674224],
    [-3, 0.00134989803163],
  ])("Phi(%s) = %s", (x, p) => {
    expect(normalCdf(x)).toBeCloseTo(p, 12);
  });

  it("keeps relative precision far in the upper tail", () => {
    // P(Z > 6) = 9.8658765e-10, P(Z > 8) = 6.22096e-16 (to 6 figures).
    expect(normalUpperTail(6) / 9.865876450377e-10).toBeCloseTo(1, 8);
    expect(normalUpperTail(8) / 6.220960574271785e-16).toBeCloseTo(1, 6);
    expect(normalUpperTail(-40)).toBe(1);
  });

  it("inverts the CDF", () => {
    for (const p of [1e-10, 1e-4, 0.025, 0.3, 0.5, 0.9, 0.999999]) {
      expect(normalCdf(normalQuantile(p)) / p).toBeCloseTo(1, 10);
    }
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
  });

  it("refuses a probability outside (0, 1)", () => {
    for (const p of [0, 1, -0.1, Number.NaN]) expect(() => normalQuantile(p)).toThrow(RangeError);
  });

  it("has the standard density", () => {
    expect(normalDensity(0)).toBeCloseTo(0.3989422804014327, 15);
    expect(normalDensity(2)).toBeCloseTo(0.05399096651318806, 15);
  });
});
