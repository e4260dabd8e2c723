// Decisions against what real pods do, for today's fixed design and the sequential design in the
// same run, on the same simulated pods: how often a challenger exactly as fast as the leader takes
// the lead (false lead; goal <= 0.1%), how often a truly 3% faster one does (take-over; goal >= 95%
// at CV 2%), and what it costs: expected pod-minutes per challenger for a 72B model on 8 GPUs at
// model loads of 30, 60 and 120 s (goal <= 12) and the share of the non-load time spent measuring
// (goal >= 70%). Every round runs through the real round engine (stepRound: placement,
// re-measurements or stages, reproduction on an independent pod) and settlement, with simulated
// pods (controller/scoring/noise-simulation.ts: per-repetition noise, process offsets, drift with
// steps, first-run slowness and the warm-up rule, outliers). Then a miner's tricks against both:
// a server fast only sometimes, only early, or only when measured again.
//
//   node bench/scoring-false-lead.ts [--rounds N] [--seed S] [--companions N] [--json]
import { parseArgs } from "node:util";
import { simulateRounds } from "../controller/rounds/round-simulation.ts";
import {
  defaultPodTiming,
  podNoiseAt,
  type ServerBehaviour,
  type WarmupRule,
} from "../controller/scoring/noise-simulation.ts";
import { defaultScoringPolicy, type ScoringPolicy } from "../controller/scoring/scoring-policy.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "4000" },
    seed: { type: "string", default: "1" },
    companions: { type: "string", default: "3" },
    json: { type: "boolean" },
  },
});
const rounds = Number(values.rounds);
const seed = Number(values.seed);
const companions = Number(values.companions);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed) || !(companions >= 0)) {
  process.stderr.write(
    "usage: node bench/scoring-false-lead.ts [--rounds N>0] [--seed INT] [--companions N>=0] [--json]\n",
  );
  process.exit(2);
}

/** A design as the controller runs it: its policy, repetitions, warm-up and blocks. */
interface Design {
  name: string;
  policy: ScoringPolicy;
  repetitions: number;
  warmup: WarmupRule;
  blocks: number;
}
const designs: Design[] = [
  {
    name: "fixed (today)",
    policy: { ...defaultScoringPolicy, decision: "fixed" },
    repetitions: 3,
    warmup: { kind: "fixed", batches: 1 },
    blocks: 1,
  },
  {
    name: "sequential (new)",
    policy: { ...defaultScoringPolicy, decision: "sequential" },
    repetitions: 8,
    warmup: { kind: "until-stable", tolerance: 0.03, maxBatches: 6 },
    blocks: 2,
  },
];
const scenarios: { name: string; cv: number; drift: number; processShare?: number }[] = [
  { name: "CV 0.3%, drift 0.3%", cv: 0.003, drift: 0.003 },
  { name: "CV 1%, drift 0.5%", cv: 0.01, drift: 0.005 },
  { name: "CV 2%, drift 1%", cv: 0.02, drift: 0.01 },
  { name: "CV 3%, drift 1.5%", cv: 0.03, drift: 0.015 },
  { name: "CV 2%, drift 2% (harsh)", cv: 0.02, drift: 0.02 },
  { name: "CV 2%, drift 1%, starts CV/2", cv: 0.02, drift: 0.01, processShare: 0.5 },
];
const tricks: { name: string; challenger: ServerBehaviour }[] = [
  // Each start 5% faster with chance 1/2, else 2.4% slower: as fast as the leader on average.
  {
    name: "fast only sometimes",
    challenger: { speed: 1 / 1.025, kind: "sometimes", gain: 0.05, chance: 0.5 },
  },
  // 10% faster for its first 30 requests after a start, then as fast as the leader.
  { name: "fast only early", challenger: { speed: 1, kind: "early", gain: 0.1, earlyRequests: 30 } },
  // As fast as the leader at its first start on a machine, 6% faster at every later start there (it
  // would tell by its own files in the page cache; stages and interleaved blocks start it again).
  { name: "fast only measured again", challenger: { speed: 1, kind: "twice", gain: 0.06 } },
];
const loads = [30, 60, 120];

const run = (design: Design, s: (typeof scenarios)[number], challenger: ServerBehaviour, i: number) => {
  const noise = podNoiseAt(s.cv, s.drift, s.processShare ? { processCv: s.cv * s.processShare } : {});
  const r = simulateRounds({
    policy: design.policy,
    rounds,
    challenger,
    companions,
    noise,
    timing: defaultPodTiming,
    repetitions: design.repetitions,
    warmup: design.warmup,
    blocks: design.blocks,
    seed: seed * 1000 + i,
  });
  const perChallenger = rounds * r.challengersPerRound;
  const starts = r.seconds.load / defaultPodTiming.loadS;
  return {
    rate: r.takeovers / rounds,
    undecided: r.undecided / rounds,
    jobsPerRound: r.jobs / rounds,
    podMinutes: Object.fromEntries(
      loads.map((l) => [l, (starts * l + r.seconds.measuring + r.seconds.other) / perChallenger / 60]),
    ) as Record<number, number>,
    measuringShare: r.seconds.measuring / (r.seconds.measuring + r.seconds.other),
  };
};

const rows = scenarios.map((s, i) =>
  designs.map((d) => ({
    scenario: s.name,
    design: d.name,
    same: run(d, s, { speed: 1 }, 2 * i),
    faster: run(d, s, { speed: 1.03 }, 2 * i + 1),
  })),
);
const trickRows = tricks.flatMap((t, j) =>
  [scenarios[1], scenarios[2]].map((s, k) => ({
    trick: t.name,
    scenario: s?.name ?? "",
    rates: designs.map((d) => ({
      design: d.name,
      rate: run(d, s as (typeof scenarios)[number], t.challenger, 100 + 10 * j + k).rate,
    })),
  })),
);

if (values.json) {
  process.stdout.write(
    `${JSON.stringify({ rounds, seed, companions, timing: defaultPodTiming, designs, rows, tricks: trickRows }, null, 2)}\n`,
  );
} else {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const min = (x: number) => x.toFixed(1);
  process.stdout.write(
    `${rounds} rounds per cell, seed ${seed}; ${companions + 1} challengers per round (jobs of up to 4), a leader and a runner-up as fast as each other; pod-minutes per challenger include loads of 30/60/120 s\n`,
  );
  process.stdout.write(
    "fixed: 3 repetitions, one warm-up batch, bar k=2, up to 2 re-measurements (pooled, k=2.5); sequential: 8 repetitions, warm-up until stable, stages of up to 6 jobs (later ones 2 interleaved blocks), alpha = beta = 2.5% per phase\n\n",
  );
  process.stdout.write(
    `${"scenario".padEnd(30)}${"design".padEnd(18)}${"false lead".padStart(11)}${"3% take-over".padStart(14)}${"jobs/round (same, 3%)".padStart(23)}${"pod-min same 30/60/120".padStart(24)}${"pod-min 3% 30/60/120".padStart(23)}${"measuring".padStart(11)}\n`,
  );
  for (const pair of rows) {
    for (const r of pair) {
      const m = (x: Record<number, number>) => loads.map((l) => min(x[l] as number)).join("/");
      process.stdout.write(
        `${r.scenario.padEnd(30)}${r.design.padEnd(18)}${pct(r.same.rate).padStart(11)}${pct(r.faster.rate).padStart(14)}${`${r.same.jobsPerRound.toFixed(2)}, ${r.faster.jobsPerRound.toFixed(2)}`.padStart(23)}${m(r.same.podMinutes).padStart(24)}${m(r.faster.podMinutes).padStart(23)}${pct(r.faster.measuringShare).padStart(11)}\n`,
      );
    }
    const [old, neu] = pair;
    if (old && neu) {
      const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : "inf");
      process.stdout.write(
        `${"".padEnd(30)}${"new / today".padEnd(18)}${ratio(neu.same.rate, old.same.rate).padStart(11)}${ratio(neu.faster.rate, old.faster.rate).padStart(14)}${"".padStart(23)}${ratio(neu.same.podMinutes[60] as number, old.same.podMinutes[60] as number).padStart(24)}${ratio(neu.faster.podMinutes[60] as number, old.faster.podMinutes[60] as number).padStart(23)}\n`,
      );
    }
  }
  process.stdout.write(
    "\nA miner's tricks (take-over rate; an honest server as fast as the leader is the false-lead row above):\n",
  );
  for (const t of trickRows) {
    process.stdout.write(
      `${t.trick.padEnd(28)}${t.scenario.padEnd(24)}${t.rates.map((r) => `${r.design}: ${pct(r.rate)}`.padEnd(30)).join("")}\n`,
    );
  }
}
