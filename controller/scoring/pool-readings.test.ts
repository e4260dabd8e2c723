import { describe, expect, it } from "vitest";
import { poolComparisons, poolReadings } from "./pool-readings.ts";
import type { PodComparison } from "./score-job.ts";
import { defaultScoringPolicy, type ScoringPolicy } from "./scoring-policy.ts";
import {
  type ChallengerReading,
  classifyReading,
  remeasureDecision,
  type Standing,
} from "./settle-standing.ts";

// The fixed design's pooling (the sequential design pools by sequentialComparison).
const policy: ScoringPolicy = { ...defaultScoringPolicy, decision: "fixed" };
/** A same-pod comparison as compareOnPod makes it: bar 1 + max(moat, 2 x noise). */
function cmp(ratio: number, noise: number, extra: Partial<PodComparison> = {}): PodComparison {
  const bar = 1 + Math.max(policy.minMargin, policy.noiseMultiplier * noise);
  return {
    ratio,
    noise,
    bar,
    beats: ratio > bar,
    insideNoise: ratio > 1 + policy.minMargin && ratio <= bar,
    ...extra,
  };
}
function reading(
  podId: string,
  vsLeader: PodComparison,
  extra: Partial<ChallengerReading> = {},
): ChallengerReading {
  return {
    jobId: `j-${podId}`,
    podId,
    gate: "pass",
    reason: "",
    speed: 1.2 * vsLeader.ratio,
    vsLeader,
    vsBaseline: cmp(1.2 * vsLeader.ratio, vsLeader.noise),
    ...extra,
  };
}
const standing: Standing = { leader: { submissionId: "L", hotkey: "hL", commitBlock: 1, settledSpeed: 1.2 } };

describe("poolReadings", () => {
  it("one measurement is judged as it is", () => {
    const only = reading("a", cmp(1.03, 0.01));
    expect(poolReadings([only], policy)).toBe(only);
    expect(poolReadings([], policy)).toBeUndefined();
  });

  it("pools log-ratios by inverse variance; the noise shrinks and the pooled bar is the higher k's", () => {
    const pooled = poolReadings([reading("a", cmp(1.02, 0.01)), reading("b", cmp(1.04, 0.01))], policy);
    const c = pooled?.vsLeader as PodComparison;
    expect(c.ratio).toBeCloseTo(Math.sqrt(1.02 * 1.04), 9);
    expect(c.noise).toBeCloseTo(0.01 / Math.SQRT2, 9);
    expect(c.bar).toBeCloseTo(1 + policy.pooledNoiseMultiplier * (0.01 / Math.SQRT2), 9);
    expect(pooled).toMatchObject({ jobId: "j-b", podId: "b", measurements: 2 });
    // A steadier pod weighs more.
    const weighted = poolComparisons([cmp(1.0, 0.005), cmp(1.1, 0.02)], policy) as PodComparison;
    expect(Math.log(weighted.ratio)).toBeCloseTo((16 * Math.log(1.0) + Math.log(1.1)) / 17, 9);
  });

  it("a miner re-measured until a lucky reading clears the bar gains nothing: every reading counts", () => {
    // The first reading lands inside the band; the re-measurement alone would clear the bar.
    const first = reading("a", cmp(1.012, 0.01));
    const lucky = reading("b", cmp(1.021, 0.01));
    expect(first.vsLeader?.insideNoise).toBe(true);
    expect(lucky.vsLeader?.beats).toBe(true);
    // Replacing the first with the lucky one would crown it; pooled, it is still inside the band.
    expect(classifyReading(lucky, standing, policy)).toBe("candidate-leader");
    const pooled = poolReadings([first, lucky], policy);
    expect(classifyReading(pooled, standing, policy)).not.toBe("candidate-leader");
    expect(pooled?.vsLeader).toMatchObject({ beats: false, insideNoise: true });
    // ...and after the limit it settles rather than earning more looks.
    expect(remeasureDecision(pooled, standing, policy, policy.maxRemeasurements, "leader")).toBe("settle");
  });

  it("a gate failed on any pod is a failure", () => {
    const failed = reading("b", cmp(0, 0.01), { gate: "fail", reason: "correctness gate failed" });
    const pooled = poolReadings([reading("a", cmp(1.05, 0.01)), failed], policy);
    expect(pooled).toMatchObject({
      gate: "fail",
      reason: "correctness gate failed",
      podId: "b",
      measurements: 2,
    });
    expect(poolReadings([failed, reading("c", cmp(1.05, 0.01))], policy)?.gate).toBe("fail");
  });

  it("a seat holder's forfeits count only where no real comparison with it exists", () => {
    const real = cmp(1.005, 0.01);
    const forfeit = cmp(1.3, 0.01, { forfeit: true });
    expect(poolComparisons([real, forfeit], policy)).toBe(real);
    const both = poolComparisons([forfeit, cmp(1.25, 0.01, { forfeit: true })], policy);
    expect(both).toMatchObject({ forfeit: true, beats: true });
    expect(poolComparisons([undefined, undefined], policy)).toBeUndefined();
  });
});
