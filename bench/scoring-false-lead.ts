// Measures the default scoring policy against synthetic noise: how often a challenger identical
// to the leader takes the lead (false lead), and how often a truly 3% faster one does (take-over),
// over many simulated rounds, each through the real policy functions (scoreJob, compareOnPod,
// settleStanding) with reproduction on a second pod. The reference is the same simulation with
// the moat and noise bar removed (minMargin 0, k 0), measured in the same run.
//
//   node bench/scoring-false-lead.ts [--rounds N] [--seed S] [--json]
import { parseArgs } from "node:util";
import { simulateTakeovers } from "../controller/scoring/noise-simulation.ts";
import { defaultScoringPolicy } from "../controller/scoring/scoring-policy.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20000" },
    seed: { type: "string", default: "1" },
    json: { type: "boolean" },
  },
});
const rounds = Number(values.rounds);
const seed = Number(values.seed);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed)) {
  process.stderr.write("usage: node bench/scoring-false-lead.ts [--rounds N>0] [--seed INT] [--json]\n");
  process.exit(2);
}

const scenarios: {
  name: string;
  armCv: readonly [number, number];
  bookendNoise: number;
  repetitions?: number;
}[] = [
  { name: "steady pod (CV 0.3%, drift 0.3%)", armCv: [0.003, 0.003] as const, bookendNoise: 0.003 },
  { name: "typical pod (CV 1%, drift 0.5%)", armCv: [0.01, 0.01] as const, bookendNoise: 0.005 },
  { name: "noisy pod (CV 2%, drift 2%)", armCv: [0.02, 0.02] as const, bookendNoise: 0.02 },
  { name: "mixed pods (CV 0.3%-2%, drift 1%)", armCv: [0.003, 0.02] as const, bookendNoise: 0.01 },
  {
    name: "typical pod, 5 repetitions per arm",
    armCv: [0.01, 0.01] as const,
    bookendNoise: 0.005,
    repetitions: 5,
  },
  {
    name: "typical pod, 7 repetitions per arm",
    armCv: [0.01, 0.01] as const,
    bookendNoise: 0.005,
    repetitions: 7,
  },
];
const noBar = { ...defaultScoringPolicy, minMargin: 0, noiseMultiplier: 0 };
const rows = scenarios.map((s, i) => {
  const run = (
    policy: typeof noBar,
    trueAdvantage: number,
    remeasureInsideNoise = 0,
    remeasureMode: "pool" | "replace" = "pool",
  ) =>
    simulateTakeovers({
      policy,
      trueAdvantage,
      rounds,
      armCv: s.armCv,
      bookendNoise: s.bookendNoise,
      repetitions: s.repetitions,
      remeasureInsideNoise,
      remeasureMode,
      seed: seed + i,
    });
  const same = run(defaultScoringPolicy, 1);
  const faster = run(defaultScoringPolicy, 1.03);
  const sameNoBar = run(noBar, 1);
  // The controller's rule: a challenger inside the noise band is measured again (up to
  // maxRemeasurements, 2) and its readings pooled. The reference is the earlier rule, each
  // re-measurement replacing the reading before it (optional stopping), on the same draws.
  const sameRemeasured = run(defaultScoringPolicy, 1, 2);
  const fasterRemeasured = run(defaultScoringPolicy, 1.03, 2);
  const sameReplaced = run(defaultScoringPolicy, 1, 2, "replace");
  const fasterReplaced = run(defaultScoringPolicy, 1.03, 2, "replace");
  return {
    scenario: s.name,
    falseLeadRate: same.takeovers / rounds,
    falseFirstWinRate: same.firstWins / rounds,
    takeoverRate3pct: faster.takeovers / rounds,
    referenceFalseLeadRateNoBar: sameNoBar.takeovers / rounds,
    noDecisionJobsPerRound: same.noDecisionJobs / rounds,
    falseLeadRateRemeasured: sameRemeasured.takeovers / rounds,
    takeoverRate3pctRemeasured: fasterRemeasured.takeovers / rounds,
    remeasuredJobsPerRound3pct: fasterRemeasured.remeasuredJobs / rounds,
    referenceFalseLeadRateReplaced: sameReplaced.takeovers / rounds,
    referenceTakeoverRate3pctReplaced: fasterReplaced.takeovers / rounds,
  };
});

if (values.json) {
  process.stdout.write(`${JSON.stringify({ rounds, seed, policy: defaultScoringPolicy, rows }, null, 2)}\n`);
} else {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  process.stdout.write(
    `default policy: moat ${pct(defaultScoringPolicy.minMargin)}, k ${defaultScoringPolicy.noiseMultiplier}, bookend limit ${pct(defaultScoringPolicy.bookendLimit)}, drift correction ${defaultScoringPolicy.driftCorrection ? "on" : "off"}, drift residual ${defaultScoringPolicy.driftResidual}; 3 repetitions per arm unless said; ${rounds} rounds per cell, seed ${seed}\n\n`,
  );
  process.stdout.write(
    "scenario                              false lead  (1st job)  3% take-over  no-bar false lead  ratio  | re-measured x2, pooled: false lead  3% take-over  extra jobs | replaced (reference): false lead  3% take-over\n",
  );
  for (const r of rows) {
    const ratio = r.falseLeadRate > 0 ? (r.referenceFalseLeadRateNoBar / r.falseLeadRate).toFixed(0) : "inf";
    process.stdout.write(
      `${r.scenario.padEnd(38)}${pct(r.falseLeadRate).padStart(10)}  ${pct(r.falseFirstWinRate).padStart(9)}  ${pct(r.takeoverRate3pct).padStart(12)}  ${pct(r.referenceFalseLeadRateNoBar).padStart(17)}  ${ratio.padStart(5)}x  | ${pct(r.falseLeadRateRemeasured).padStart(34)}  ${pct(r.takeoverRate3pctRemeasured).padStart(12)}  ${r.remeasuredJobsPerRound3pct.toFixed(2).padStart(10)} | ${pct(r.referenceFalseLeadRateReplaced).padStart(32)}  ${pct(r.referenceTakeoverRate3pctReplaced).padStart(12)}\n`,
    );
  }
}
