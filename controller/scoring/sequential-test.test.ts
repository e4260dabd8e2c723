import { describe, expect, it } from "vitest";
import { seededRandom } from "../../shared/stats/seeded-random.ts";
import { spendingBoundaries } from "./group-sequential.ts";
import { normalOf } from "./noise-simulation.ts";
import type { PodComparison } from "./score-job.ts";
import { defaultScoringPolicy, type ScoringPolicy } from "./scoring-policy.ts";
import { sequentialComparison, stageNoise } from "./sequential-test.ts";

// The sequential test on plain comparisons: every case is (stages, policy) -> decision.
const policy: ScoringPolicy = { ...defaultScoringPolicy, decision: "sequential", sequentialStages: 4 };
const efficacy = spendingBoundaries({
  looks: 4,
  rate: policy.sequentialAlpha,
  gamma: policy.sequentialAlphaSpending,
});
const futility = spendingBoundaries({
  looks: 4,
  rate: policy.sequentialBeta,
  gamma: policy.sequentialBetaSpending,
});
/** A stage whose ratio sits `z` of its noise above 1. */
const at = (z: number, noise = 0.01, extra: Partial<PodComparison> = {}): PodComparison => ({
  ratio: Math.exp(z * noise),
  noise,
  bar: 1 + 2 * noise,
  beats: false,
  insideNoise: false,
  ...extra,
});

describe("sequentialComparison", () => {
  const cases: { name: string; stages: PodComparison[]; decision: string; stages_: number }[] = [
    {
      name: "clears the first boundary at once",
      stages: [at((efficacy[0] as number) + 0.1)],
      decision: "accept",
      stages_: 1,
    },
    {
      name: "just below the first boundary and not hopeless: another stage",
      stages: [at(2.5)],
      decision: "continue",
      stages_: 1,
    },
    {
      name: "its confidence interval excludes the design advantage: rejected early",
      stages: [at(0, 0.004)],
      decision: "reject",
      stages_: 1,
    },
    {
      name: "two stages that together clear the second boundary",
      stages: [at(2.4), at(2.4)],
      decision: "accept",
      stages_: 2,
    },
    {
      name: "a lucky first stage and a slow second: not accepted",
      stages: [at(2.8), at(-1.5)],
      decision: "continue",
      stages_: 2,
    },
    {
      name: "nothing cleared at the last stage: rejected (fail closed)",
      stages: [at(1, 0.02), at(1, 0.02), at(1, 0.02), at(1, 0.02)],
      decision: "reject",
      stages_: 4,
    },
    {
      name: "stages after a decision do not change it",
      stages: [at((efficacy[0] as number) + 0.1), at(-5), at(-5)],
      decision: "accept",
      stages_: 1,
    },
  ];
  it.each(cases)("$name", ({ stages, decision, stages_ }) => {
    const c = sequentialComparison(stages, policy);
    expect(c?.decision).toBe(decision);
    expect(c?.stages).toBe(stages_);
    expect(c?.beats).toBe(decision === "accept");
    expect(c?.insideNoise).toBe(decision === "continue");
  });

  it("the moat holds however small the noise", () => {
    // Ratio 1.008 measured to 0.05%: far past any z boundary, but not faster than the 1% moat.
    const c = sequentialComparison([at(16, 0.0005)], policy);
    expect(c?.ratio).toBeCloseTo(1.008, 3);
    expect(c?.decision).not.toBe("accept");
    expect(c?.bar).toBeGreaterThanOrEqual(1.01);
  });

  it("widens the pooled noise when the stages disagree beyond their own noise", () => {
    // Same pooled ratio; the swinging stages are 2 noises either side of it: Q = 8 on 1 degree of freedom.
    const steady = sequentialComparison([at(1, 0.02), at(1, 0.02)], policy);
    const swinging = sequentialComparison([at(3, 0.02), at(-1, 0.02)], policy);
    expect(steady?.ratio).toBeCloseTo(swinging?.ratio as number, 9);
    expect((swinging?.noise as number) / (steady?.noise as number)).toBeCloseTo(Math.sqrt(8), 9);
    expect(steady?.decision).toBe("continue");
    expect(swinging?.decision).toBe("continue");
  });

  it("adds the bookend spread to the repetitions' noise (never below the fixed design's max)", () => {
    const c = at(0, 0.01, { readNoise: 0.006, spread: 0.008 });
    expect(stageNoise(c)).toBeCloseTo(0.01, 12);
    expect(stageNoise({ ...c, readNoise: 0.004, spread: 0.003 })).toBeCloseTo(0.005, 12);
    expect(stageNoise(at(0, 0.01))).toBe(0.01);
  });

  it("judges forfeits only where no real comparison exists", () => {
    const real = at(0.5);
    const forfeit = at(30, 0.01, { forfeit: true });
    expect(sequentialComparison([real, forfeit], policy)?.decision).not.toBe("accept");
    const onlyForfeits = sequentialComparison([forfeit], policy);
    expect(onlyForfeits?.forfeit).toBe(true);
    expect(onlyForfeits?.decision).toBe("accept");
    const lenient = sequentialComparison([at(-3, 0.01, { forfeit: true })], {
      ...policy,
      leaderMustBeatBaseline: false,
    });
    expect(lenient?.beats).toBe(true);
  });

  it("is undefined without stages and rejects stages that compare nothing", () => {
    expect(sequentialComparison([], policy)).toBeUndefined();
    expect(sequentialComparison([undefined], policy)).toBeUndefined();
    const none = sequentialComparison([{ ...at(0), ratio: 0 }], policy);
    expect(none?.decision).toBe("reject");
    expect(none?.beats).toBe(false);
  });

  it("uses the futility boundary of beta spending against the design advantage", () => {
    // Just above and just below the futility line at the first look.
    const noise = 0.01;
    const line = Math.log(1 + policy.sequentialAdvantage) - (futility[0] as number) * noise;
    const above = sequentialComparison([{ ...at(0, noise), ratio: Math.exp(line + 1e-4) }], policy);
    const below = sequentialComparison([{ ...at(0, noise), ratio: Math.exp(line - 1e-4) }], policy);
    expect(above?.decision).toBe("continue");
    expect(below?.decision).toBe("reject");
  });
});

describe("sequentialComparison: error rates by construction (no optional-stopping bias)", () => {
  // Stages drawn as the test assumes (normal, calibrated noise, noise varying by stage): the
  // chance of accepting a challenger as fast as the seat holder stays at or below alpha however
  // the stages fall, and a truly 3% faster one on steady stages is rejected early at most beta.
  const normal = normalOf(seededRandom("5e", "sequential-test"));
  const run = (truth: number, rounds: number) => {
    let accepted = 0;
    let looked = 0;
    for (let r = 0; r < rounds; r++) {
      const stages: PodComparison[] = [];
      for (let k = 0; k < policy.sequentialStages; k++) {
        const noise = 0.006 + 0.01 * Math.abs(normal()) * 0.5;
        stages.push(at((Math.log(truth) + noise * normal()) / noise, noise));
        const c = sequentialComparison(stages, policy);
        if (c?.decision !== "continue") {
          if (c?.decision === "accept") accepted += 1;
          looked += stages.length;
          break;
        }
      }
    }
    return { rate: accepted / rounds, stages: looked / rounds };
  };

  it("a challenger as fast as the seat holder is accepted in at most alpha of phases", () => {
    const { rate } = run(1, 20_000);
    // alpha = 0.025; 4 standard errors of 20,000 draws above it is 0.0295.
    expect(rate).toBeLessThan(policy.sequentialAlpha + 4 * Math.sqrt(0.025 / 20_000));
  });

  it("a truly 3% faster challenger is accepted in most phases, and stops early", () => {
    const { rate, stages } = run(1.03, 4000);
    expect(rate).toBeGreaterThan(0.9);
    expect(stages).toBeLessThan(2.5);
  });
});
