import { describe, expect, it } from "vitest";
import { simulateTakeovers } from "./noise-simulation.ts";
import { defaultScoringPolicy } from "./scoring-policy.ts";

// The default policy against synthetic noise. Rates are measured over many rounds; the bounds
// are loose enough for any seed yet fail if the moat or the reproduction step is removed.
describe("default policy under synthetic noise", () => {
  const base = { policy: defaultScoringPolicy, rounds: 2000, seed: 7 };

  it("an identical challenger almost never takes the lead (0.3%-2% CV, drifting pods)", () => {
    const r = simulateTakeovers({ ...base, trueAdvantage: 1, armCv: [0.003, 0.02], bookendNoise: 0.01 });
    expect(r.takeovers / r.rounds).toBeLessThan(0.005);
  });

  it("a truly 3% faster challenger almost always takes it on a steady pod (0.3% CV)", () => {
    const r = simulateTakeovers({ ...base, trueAdvantage: 1.03, armCv: [0.003, 0.003], bookendNoise: 0.003 });
    expect(r.takeovers / r.rounds).toBeGreaterThan(0.98);
  });

  it("reproduction removes most first-job flukes", () => {
    const r = simulateTakeovers({ ...base, trueAdvantage: 1, armCv: [0.02, 0.02], bookendNoise: 0.02 });
    expect(r.firstWins).toBeGreaterThan(r.takeovers * 5);
    expect(r.noDecisionJobs).toBeGreaterThan(0);
  });

  it("without the moat and noise bar an identical challenger leads often", () => {
    const loose = { ...defaultScoringPolicy, minMargin: 0, noiseMultiplier: 0 };
    const r = simulateTakeovers({
      ...base,
      policy: loose,
      trueAdvantage: 1,
      armCv: [0.01, 0.01],
      bookendNoise: 0.005,
    });
    expect(r.takeovers / r.rounds).toBeGreaterThan(0.1);
  });

  it("re-measuring a reading inside the noise band raises the 3% take-over and keeps false leads rare", () => {
    const typical = { ...base, armCv: [0.01, 0.01] as const, bookendNoise: 0.005 };
    const once = simulateTakeovers({ ...typical, trueAdvantage: 1.03, remeasureInsideNoise: 0 });
    const again = simulateTakeovers({ ...typical, trueAdvantage: 1.03, remeasureInsideNoise: 2 });
    expect(once.remeasuredJobs).toBe(0);
    expect(again.remeasuredJobs).toBeGreaterThan(0);
    expect(again.takeovers).toBeGreaterThan(once.takeovers * 1.2);
    const same = simulateTakeovers({ ...typical, trueAdvantage: 1, remeasureInsideNoise: 2 });
    expect(same.takeovers / same.rounds).toBeLessThan(0.005);
  });

  it("more repetitions per arm raise the 3% take-over on a typical pod", () => {
    const typical = {
      ...base,
      trueAdvantage: 1.03,
      armCv: [0.01, 0.01] as const,
      bookendNoise: 0.005,
      remeasureInsideNoise: 0,
    };
    const three = simulateTakeovers({ ...typical, repetitions: 3 });
    const seven = simulateTakeovers({ ...typical, repetitions: 7 });
    expect(seven.takeovers).toBeGreaterThan(three.takeovers * 1.2);
    // Repetitions shrink the read noise, not the pod's drift: the bar never drops below
    // 1 + 2 x the bookend spread, so even 7 repetitions miss a 3% lead on a pod that drifted.
    expect(seven.takeovers / seven.rounds).toBeGreaterThan(0.75);
  });

  it("is deterministic for a seed", () => {
    const o = {
      ...base,
      rounds: 200,
      trueAdvantage: 1.01,
      armCv: [0.005, 0.01] as const,
      bookendNoise: 0.005,
    };
    expect(simulateTakeovers(o)).toEqual(simulateTakeovers(o));
  });
});
