import { describe, expect, it } from "vitest";
import { seededRandom } from "../../shared/stats/seeded-random.ts";
import { tokenKSpeed } from "../../shared/stats/token-k-speed.ts";
import {
  defaultPodTiming,
  podNoiseAt,
  type ServerBehaviour,
  type SimulatedArm,
  type SimulatePodJobOptions,
  simulatePodJob,
} from "./noise-simulation.ts";
import { scoreJob } from "./score-job.ts";
import { defaultScoringPolicy } from "./scoring-policy.ts";

// The simulated pod against what the agent and the scorer see: figures an agent reports, the
// pod's time by use, first-run slowness and the warm-up rule, and each miner's trick.
const arms: SimulatedArm[] = [
  { armId: "a0", role: "opening-baseline", submissionId: "" },
  { armId: "a1", role: "challenger", submissionId: "c" },
  { armId: "a2", role: "closing-baseline", submissionId: "" },
];
const quiet = podNoiseAt(0.001, 0, { outlierChance: 0, legOutlierChance: 0, stepChance: 0, requestCv: 0 });
const base = (over: Partial<SimulatePodJobOptions> = {}): SimulatePodJobOptions => ({
  arms,
  servers: new Map<string, ServerBehaviour>([["c", { speed: 1.1 }]]),
  noise: quiet,
  timing: defaultPodTiming,
  repetitions: 5,
  warmup: { kind: "until-stable", tolerance: 0.03, maxBatches: 6 },
  random: seededRandom("5e", "noise-simulation"),
  starts: new Map(),
  ...over,
});
const speedOf = (job: ReturnType<typeof simulatePodJob>, armId = "a1") =>
  tokenKSpeed(job.measurements.find((m) => m.armId === armId)?.tokenK ?? [], { position: 0.5 }).speed;

describe("simulatePodJob", () => {
  it("reports the agent's figures: times to token k against the bookends, the closing one against the opening", () => {
    const job = simulatePodJob(base());
    expect(job.measurements.map((m) => [m.armId, m.role, m.repetitions, m.requests])).toEqual([
      ["a0", "opening-baseline", 5, 50],
      ["a1", "challenger", 5, 50],
      ["a2", "closing-baseline", 5, 50],
    ]);
    expect(job.measurements[0]?.tokenK).toBeUndefined();
    expect(job.measurements[1]?.tokenK).toHaveLength(50);
    // A 10% faster server on a quiet pod reads 10% faster; the real scorer decides on it.
    expect(speedOf(job)).toBeCloseTo(1.1, 2);
    const score = scoreJob(job.measurements, defaultScoringPolicy);
    expect(score.decision).toBe("decided");
    expect(score.arms.find((a) => a.armId === "a1")?.speed).toBeCloseTo(1.1, 2);
  });

  it("accounts the pod's time: one load per arm, measuring = the timed repetitions", () => {
    const job = simulatePodJob(base());
    expect(job.seconds.load).toBe(3 * defaultPodTiming.loadS);
    // Baselines take 24 s per repetition, the 10% faster server 24 / 1.1 s (give or take the
    // prompts' lengths, drawn around 1, and what is left of the first-run slowness).
    const expected = 5 * defaultPodTiming.baselineRepetitionS * (2 + 1 / 1.1);
    expect(job.seconds.measuring / expected).toBeGreaterThan(0.95);
    expect(job.seconds.measuring / expected).toBeLessThan(1.1);
    expect(job.seconds.other).toBeGreaterThan(defaultPodTiming.jobOverheadS + 3 * defaultPodTiming.idleGateS);
  });

  it("one warm-up batch leaves the first repetitions slow (first-run slowness); warm-up until stable does not", () => {
    // The same seed draws the same prompts first, so repetition r of both runs sends the same ones.
    const walls = (warmup: SimulatePodJobOptions["warmup"]) => {
      const job = simulatePodJob(base({ warmup, noise: { ...quiet, firstRunFactor: 2.7, warmDecay: 0.3 } }));
      const rows = job.measurements[1]?.tokenK ?? [];
      return [0, 1, 2, 3, 4].map((r) =>
        rows.filter((t) => t.repetition === r).reduce((s, t) => s + t.armMs, 0),
      );
    };
    const once = walls({ kind: "fixed", batches: 1 });
    const stable = walls({ kind: "until-stable", tolerance: 0.03, maxBatches: 10 });
    const ratio = once.map((w, r) => w / (stable[r] as number));
    // After one batch the excess is 1.7 x 0.3 = 51%, then 15%, 4.6%, ...; until stable, under 0.5%.
    expect(ratio[0]).toBeGreaterThan(1.4);
    expect(ratio[1]).toBeGreaterThan(1.1);
    expect(ratio[4]).toBeLessThan(1.01);
  });

  it("an interleaved job times each arm against the baselines around its block", () => {
    const interleaved: SimulatedArm[] = [
      { armId: "a0", role: "opening-baseline", submissionId: "" },
      { armId: "a1", role: "challenger", submissionId: "c" },
      { armId: "a2", role: "interim-baseline", submissionId: "" },
      { armId: "a3", role: "challenger", submissionId: "c" },
      { armId: "a4", role: "closing-baseline", submissionId: "" },
    ];
    const job = simulatePodJob(base({ arms: interleaved }));
    const m = (id: string) => job.measurements.find((x) => x.armId === id);
    const times = (id: string, r: number, i: number) => m(id)?.tokenK?.find((t) => t.repetition === r)?.armMs;
    const row = (id: string) => m(id)?.tokenK?.find((t) => t.repetition === 1 && t.armMs === times(id, 1, 0));
    expect(row("a1")?.closingMs).toBe(times("a2", 1, 0));
    expect(row("a3")?.openingMs).toBe(times("a2", 1, 0));
    expect(row("a3")?.closingMs).toBe(times("a4", 1, 0));
    expect(speedOf(job, "a3")).toBeCloseTo(1.1, 2);
    expect(scoreJob(job.measurements, defaultScoringPolicy).blocks).toHaveLength(2);
  });

  it("models each trick: sometimes faster per start, faster early, faster at a later start on the machine", () => {
    const speeds = (server: ServerBehaviour, starts = new Map<string, number>()) =>
      Array.from({ length: 40 }, (_, i) =>
        speedOf(
          simulatePodJob(
            base({
              servers: new Map([["c", server]]),
              random: seededRandom("5e", `trick-${i}`),
              starts,
              warmup: { kind: "fixed", batches: 1 },
            }),
          ),
        ),
      );
    const sometimes = speeds({ speed: 1, kind: "sometimes", gain: 0.1, chance: 0.5 });
    expect(sometimes.filter((s) => s > 1.05).length).toBeGreaterThan(10);
    expect(sometimes.filter((s) => s < 1.05).length).toBeGreaterThan(10);
    // Faster for its first 30 requests: with one warm-up batch of 2, the first 28 timed ones.
    const early = speeds({ speed: 1, kind: "early", gain: 0.1, earlyRequests: 30 });
    expect(Math.min(...early)).toBeGreaterThan(1.01);
    const starts = new Map<string, number>();
    const twice = speeds({ speed: 1, kind: "twice", gain: 0.1 }, starts);
    expect(twice[0]).toBeCloseTo(1, 2);
    expect(twice[1]).toBeCloseTo(1.1, 2);
    expect(starts.get("c")).toBe(40);
  });

  it("is deterministic for a seed", () => {
    const noisy = podNoiseAt(0.02, 0.01);
    const a = simulatePodJob(base({ noise: noisy, random: seededRandom("5e", "same") }));
    const b = simulatePodJob(base({ noise: noisy, random: seededRandom("5e", "same") }));
    expect(a).toEqual(b);
  });
});
