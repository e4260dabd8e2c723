import { describe, expect, it } from "vitest";
import { defaultPodTiming, podNoiseAt, type ServerBehaviour } from "../scoring/noise-simulation.ts";
import { defaultScoringPolicy, type ScoringPolicy } from "../scoring/scoring-policy.ts";
import { type RoundSimulationOptions, simulateRounds } from "./round-simulation.ts";

// Whole rounds through the real engine and settlement on simulated pods at CV 2% (drift 1% per 10
// minutes, first-run slowness, outliers). Counts over 150 rounds: the bounds are loose for any
// seed (the bench measures the rates over thousands), yet fail if a protection is removed.
const sequential: ScoringPolicy = { ...defaultScoringPolicy, decision: "sequential" };
const fixed: ScoringPolicy = { ...defaultScoringPolicy, decision: "fixed" };
const at2 = (
  policy: ScoringPolicy,
  challenger: ServerBehaviour,
  over: Partial<RoundSimulationOptions> = {},
) =>
  simulateRounds({
    policy,
    rounds: 150,
    challenger,
    noise: podNoiseAt(0.02, 0.01),
    timing: defaultPodTiming,
    repetitions: policy.decision === "sequential" ? 8 : 3,
    warmup:
      policy.decision === "sequential"
        ? { kind: "until-stable", tolerance: 0.03, maxBatches: 6 }
        : { kind: "fixed", batches: 1 },
    blocks: policy.decision === "sequential" ? 2 : 1,
    seed: 3,
    ...over,
  });

describe("simulateRounds at CV 2%", () => {
  it("sequential: a challenger as fast as the leader never takes the lead; a 3% faster one almost always does", () => {
    const same = at2(sequential, { speed: 1 });
    expect(same.takeovers).toBeLessThanOrEqual(1);
    const faster = at2(sequential, { speed: 1.03 });
    expect(faster.takeovers / faster.rounds).toBeGreaterThan(0.85);
    // It gets there by extra stages only where needed: more jobs than challengers, far fewer than the cap.
    expect(faster.jobs / faster.rounds).toBeGreaterThan(2);
    expect(faster.jobs / faster.rounds).toBeLessThan(12);
  });

  it("today's fixed design mostly misses the 3% challenger at this noise", () => {
    const faster = at2(fixed, { speed: 1.03 });
    expect(faster.takeovers / faster.rounds).toBeLessThan(0.5);
  });

  it("a server 5% faster at half its starts (as fast as the leader on average) is almost never paid", () => {
    const sometimes = at2(sequential, { speed: 1 / 1.025, kind: "sometimes", gain: 0.05, chance: 0.5 });
    expect(sometimes.takeovers / sometimes.rounds).toBeLessThan(0.03);
  });

  it("without the boundaries (no moat, no noise bar) an equal challenger leads often: the test can fail", () => {
    const loose = { ...fixed, minMargin: 0, noiseMultiplier: 0, pooledNoiseMultiplier: 0 };
    const same = at2(loose, { speed: 1 }, { rounds: 60 });
    expect(same.takeovers / same.rounds).toBeGreaterThan(0.1);
  });

  it("accounts pod time by use and is deterministic for a seed", () => {
    const a = at2(sequential, { speed: 1.01 }, { rounds: 10 });
    expect(a).toEqual(at2(sequential, { speed: 1.01 }, { rounds: 10 }));
    expect(a.seconds.load).toBeGreaterThan(0);
    expect(a.seconds.measuring).toBeGreaterThan(a.seconds.other);
  });
});
