import { lineChartSvg, palette } from "../web/line-chart-svg.ts";
import { stackedBarChartSvg } from "../web/stacked-bar-chart-svg.ts";
import type { LeaderboardDocument } from "./leaderboard-document.ts";

/** Verdicts grouped as a miner reads a round: who took a seat, who was close, who failed and why. */
export const verdictGroups: readonly {
  name: string;
  short: string;
  colour: string;
  verdicts: readonly string[];
}[] = [
  { name: "paid (leader, runner-up)", short: "paid", colour: "#009e73", verdicts: ["leader", "runner-up"] },
  {
    name: "correct, below the bar",
    short: "below the bar",
    colour: "#56b4e9",
    verdicts: ["below-bar", "not-reproduced", "awaiting-reproduction"],
  },
  { name: "failed", short: "failed", colour: "#d55e00", verdicts: ["failed"] },
  { name: "copy or malformed", short: "copy/malformed", colour: "#cc79a7", verdicts: ["copy", "malformed"] },
  { name: "other", short: "other", colour: "#999999", verdicts: [] },
];

/** The group a verdict belongs to ("other" for any not listed). */
export function verdictGroup(verdict: string): (typeof verdictGroups)[number] {
  return (
    verdictGroups.find((g) => g.verdicts.includes(verdict)) ??
    (verdictGroups.at(-1) as (typeof verdictGroups)[number])
  );
}

/** Drawn at about this size on the page, so the SVG's text is not scaled down. */
const chartSize = { width: 560, height: 250 };

/** Rounds plotted at most, newest kept. */
const plottedRounds = 60;
/** Pods plotted at most (those with the most jobs): more lines than colours cannot be told apart. */
const plottedPods = 8;

/** The settled speed of the leader and runner-up after each round, against the baseline (1). */
export function leaderSpeedPlot(doc: LeaderboardDocument): string {
  const rounds = [...doc.rounds].slice(0, plottedRounds).reverse();
  const seat = (role: "leader" | "runnerUp", name: string) => ({
    name,
    points: rounds.flatMap((r) => {
      const s = r[role];
      return s
        ? [
            {
              x: r.number,
              y: s.settledSpeed,
              title: `round ${r.number}: ${name} ${shortKey(s.hotkey)} at ${s.settledSpeed.toFixed(3)}x`,
            },
          ]
        : [];
    }),
  });
  return lineChartSvg({
    title: "Leader speed over rounds (x the baseline)",
    series: [seat("leader", "leader"), { ...seat("runnerUp", "runner-up"), colour: palette[1] }],
    xLabel: "round",
    yLabel: "speed (x baseline)",
    reference: { y: 1, label: "baseline" },
    format: (v) => `${v.toFixed(2)}x`,
    ...chartSize,
  });
}

/** How many submissions each round measured, stacked by what became of them. */
export function challengersPlot(doc: LeaderboardDocument): string {
  const rounds = [...doc.rounds].slice(0, plottedRounds).reverse();
  return stackedBarChartSvg({
    title: "Challengers per round, by verdict",
    categories: rounds.map((r) => String(r.number)),
    series: verdictGroups.map((g) => ({
      name: g.short,
      colour: g.colour,
      values: rounds.map((r) =>
        Object.entries(r.verdicts)
          .filter(([verdict]) => verdictGroup(verdict) === g)
          .reduce((sum, [, n]) => sum + n, 0),
      ),
    })),
    xLabel: "round",
    yLabel: "submissions",
    ...chartSize,
  });
}

/**
 * Noise of each pod over rounds: the largest baseline bookend spread of its jobs in the round
 * (how far the same baseline's two runs disagreed), with the no-decision limit.
 */
export function noisePerPodPlot(doc: LeaderboardDocument): string {
  const rounds = [...doc.rounds].slice(0, plottedRounds).reverse();
  const byPod = new Map<string, Map<number, number>>();
  const jobsOf = new Map<string, number>();
  for (const r of rounds)
    for (const j of r.jobs) {
      if (j.podId === null || j.bookendSpread === null || !Number.isFinite(j.bookendSpread)) continue;
      const perRound = byPod.get(j.podId) ?? new Map<number, number>();
      perRound.set(r.number, Math.max(perRound.get(r.number) ?? 0, j.bookendSpread * 100));
      byPod.set(j.podId, perRound);
      jobsOf.set(j.podId, (jobsOf.get(j.podId) ?? 0) + 1);
    }
  const pods = [...byPod.keys()]
    .sort((a, b) => (jobsOf.get(b) ?? 0) - (jobsOf.get(a) ?? 0) || a.localeCompare(b))
    .slice(0, plottedPods)
    .sort();
  const limit = doc.policy?.bookendLimit;
  return lineChartSvg({
    title: `Noise per pod: bookend spread${pods.length < byPod.size ? ` (the ${plottedPods} busiest pods)` : ""}`,
    series: pods.map((pod) => ({
      name: pod,
      points: [...(byPod.get(pod) ?? new Map<number, number>()).entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([x, y]) => ({ x, y, title: `${pod}, round ${x}: bookends ${y.toFixed(2)}% apart` })),
    })),
    xLabel: "round",
    yLabel: "spread (%)",
    yMin: 0,
    ...(limit !== undefined ? { reference: { y: limit * 100, label: "no-decision limit" } } : {}),
    format: (v) => `${v.toFixed(1)}%`,
    ...chartSize,
  });
}

/** "5Grw…utQY": the ends of a long key, the whole in a title where shown. */
export function shortKey(key: string): string {
  return key.length > 16 ? `${key.slice(0, 6)}…${key.slice(-6)}` : key;
}
