import { describe, expect, it } from "vitest";
import { coefficientOfVariation } from "./summarise.ts";
import { robustCoefficientOfVariation, tokenKSpeed } from "./token-k-speed.ts";

const t = (repetition: number, armMs: number, openingMs: number, closingMs = openingMs) => ({
  repetition,
  armMs,
  openingMs,
  closingMs,
});

describe("tokenKSpeed", () => {
  it("is the median over requests of baseline time / arm time", () => {
    const s = tokenKSpeed([t(0, 50, 100), t(0, 100, 100), t(0, 80, 100)]);
    expect(s.speed).toBeCloseTo(1.25, 12);
    expect(s.requests).toBe(3);
  });

  it("one outlier request moves a median, not a mean", () => {
    const s = tokenKSpeed([t(0, 100, 100), t(0, 100, 100), t(0, 1, 100)]);
    expect(s.speed).toBe(1);
  });

  it("reads the baseline off the line between the bookends at the arm's place", () => {
    // The pod slowed by 20% during the job; an arm right in the middle ran as fast as the baseline then.
    const timings = [t(0, 110, 100, 120)];
    expect(tokenKSpeed(timings, { position: 0.5 }).speed).toBeCloseTo(1, 12);
    expect(tokenKSpeed(timings, { position: 0 }).speed).toBeCloseTo(100 / 110, 12);
    expect(tokenKSpeed(timings, { position: 1 }).speed).toBeCloseTo(120 / 110, 12);
    expect(tokenKSpeed(timings, { position: 0, driftCorrection: false }).speed).toBeCloseTo(1, 12);
  });

  it("gives per-repetition medians and their spread as the noise", () => {
    const s = tokenKSpeed([t(0, 100, 110), t(0, 100, 110), t(1, 100, 90), t(1, 100, 90)]);
    expect(s.repetitionSpeeds).toEqual([1.1, 0.9]);
    expect(s.cv).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    expect(tokenKSpeed([t(0, 100, 110)]).cv).toBe(0);
  });

  it("skips requests that cannot be timed and is NaN with none", () => {
    expect(tokenKSpeed([t(0, 0, 100), t(0, Number.NaN, 100), t(0, 100, -1)]).speed).toBeNaN();
    expect(tokenKSpeed([]).requests).toBe(0);
  });
});

describe("robustCoefficientOfVariation", () => {
  it("is the plain CV below 5 values", () => {
    const v = [1, 1.02, 0.98, 1.01];
    expect(robustCoefficientOfVariation(v)).toBe(coefficientOfVariation(v));
  });

  it("from 5 values on, one odd repetition (a pause) barely moves it; it moves the plain CV a lot", () => {
    const steady = [1, 1.01, 0.99, 1.005, 0.995, 1.002, 0.998, 1.0];
    const paused = [...steady.slice(0, 7), 0.8];
    expect(coefficientOfVariation(paused) / coefficientOfVariation(steady)).toBeGreaterThan(5);
    expect(robustCoefficientOfVariation(paused) / robustCoefficientOfVariation(steady)).toBeLessThan(1.5);
  });

  it("estimates a normal spread without bias on average (small-sample factors)", () => {
    // Deterministic normal-ish samples: evenly spaced quantiles, 8 values, sd 0.02 around 1.
    const quantiles = [-1.534, -0.887, -0.489, -0.157, 0.157, 0.489, 0.887, 1.534];
    const values = quantiles.map((z) => 1 + 0.02 * z);
    expect(robustCoefficientOfVariation(values)).toBeGreaterThan(0.015);
    expect(robustCoefficientOfVariation(values)).toBeLessThan(0.025);
    expect(tokenKSpeed([t(0, 100, 110)]).robustCv).toBe(0);
  });
});
