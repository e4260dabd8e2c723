import { describe, expect, it } from "vitest";
import type { LeaderboardRow } from "../web/leaderboard.ts";
import {
  buildLeaderboardDocument,
  type LeaderboardInput,
  maxAttemptsPerMiner,
  type PublishedPolicy,
} from "./leaderboard-document.ts";
import type { MinerReport, ReportMeasurement } from "./miner-report.ts";
import type { RoundSummary } from "./round-summary.ts";

const policy: PublishedPolicy = {
  minMargin: 0.01,
  noiseMultiplier: 2,
  bookendLimit: 0.05,
  leaderShare: 0.8,
  runnerUpShare: 0.2,
};
const seat = (hotkey: string, submissionId: string, settledSpeed: number) => ({
  hotkey,
  submissionId,
  commitBlock: 1,
  settledSpeed,
});
const row = (hotkey: string, submissionId: string, rank: number | null, verdict: string): LeaderboardRow => ({
  rank,
  hotkey,
  uid: hotkey.length,
  submissionId,
  image: `r/${hotkey}@sha256:${"a".repeat(64)}`,
  state: "evaluated",
  verdict,
  speed: 1,
  reason: verdict,
});
const round = (number: number, leader?: string): RoundSummary => ({
  schema: "cacheon.round-summary.v1",
  roundId: `round-${number}`,
  number,
  block: number * 10,
  blockHash: "0x",
  seed: "00",
  state: "settled",
  createdAt: "2026-01-01T00:00:00.000Z",
  settledAt: "2026-01-01T01:00:00.000Z",
  standingBefore: {},
  standingAfter: leader ? { leader: seat(leader, `s-${leader}`, 1.5) } : {},
  jobs: [
    {
      jobId: `j${number}`,
      phase: "evaluate",
      slot: "e0",
      attempt: 0,
      podId: "pod-a",
      state: "done",
      decision: "decided",
      reason: "",
      baselineWallS: 10,
      bookendSpread: 0.01 * number,
      arms: [],
    },
  ],
  verdicts: [{ submissionId: "x", hotkey: "h", verdict: "below-bar", speed: 1, settledSpeed: 1, reason: "" }],
});
const vsLeader = (bar: number, noise: number): ReportMeasurement => ({
  jobId: "j",
  phase: "evaluate",
  podId: "pod-a",
  gate: "pass",
  speed: 1.4,
  against: { seat: "leader", ratio: 0.95, bar, noise },
  reason: "",
});
const report = (
  hotkey: string,
  roundNumber: number,
  measurements: ReportMeasurement[] = [],
): MinerReport => ({
  hotkey,
  submissionId: `s-${hotkey}`,
  image: null,
  roundId: `round-${roundNumber}`,
  verdict: "below-bar",
  speed: 1.4,
  settledSpeed: 1.4,
  reason: `round ${roundNumber}`,
  nextSteps: [`step ${roundNumber}`],
  measurements,
});
const base: LeaderboardInput = {
  generatedAtMs: Date.UTC(2026, 0, 2),
  policy,
  standing: { leader: seat("lea", "s-lea", 1.5) },
  rows: [row("lea", "s-lea", 1, "leader"), row("cha", "s-cha", 3, "below-bar")],
  reports: [],
  rounds: [],
};

describe("buildLeaderboardDocument", () => {
  it("versions the document and shows the seats with the round they were first held in a row", () => {
    const doc = buildLeaderboardDocument({
      ...base,
      rounds: [round(1, "other"), round(3, "lea"), round(2, "lea")],
    });
    expect(doc.schema).toBe("cacheon.leaderboard.v1");
    expect(doc.generatedAt).toBe("2026-01-02T00:00:00.000Z");
    expect(doc.standing.leader).toMatchObject({
      hotkey: "lea",
      uid: 3,
      sinceRound: "round-2",
      settledSpeed: 1.5,
    });
    expect(doc.standing.leader?.image).toMatch(/^r\/lea@/);
    expect(doc.standing.runnerUp).toBeNull();
    expect(doc.rounds.map((r) => r.id)).toEqual(["round-3", "round-2", "round-1"]);
    expect(doc.rounds[0]).toMatchObject({
      summary: "rounds/round-3/summary.json",
      challengers: 1,
      verdicts: { "below-bar": 1 },
      leader: { hotkey: "lea", settledSpeed: 1.5 },
      jobs: [{ podId: "pod-a", bookendSpread: 0.03 }],
    });
  });

  const bars: [
    string,
    MinerReport[],
    Partial<NonNullable<ReturnType<typeof buildLeaderboardDocument>["bar"]>> | null,
  ][] = [
    [
      "no measurement against the leader: the policy's minimum",
      [],
      { ratio: 1.01, targetSpeed: 1.5 * 1.01, noise: null, roundId: null },
    ],
    [
      "the median bar and noise of the latest round that measured challengers against the leader",
      [
        report("cha", 1, [vsLeader(1.2, 0.1)]),
        report("cha", 2, [vsLeader(1.02, 0.004), vsLeader(1.04, 0.02)]),
        report("dan", 2, [vsLeader(1.03, 0.01)]),
      ],
      { ratio: 1.03, targetSpeed: 1.5 * 1.03, noise: 0.01, roundId: "round-2" },
    ],
    [
      "the leader's own measurements do not count",
      [report("lea", 2, [vsLeader(1.5, 0.2)])],
      { ratio: 1.01, roundId: null },
    ],
  ];
  for (const [name, reports, expected] of bars)
    it(`bar: ${name}`, () => {
      const doc = buildLeaderboardDocument({ ...base, reports, rounds: [round(1, "lea"), round(2, "lea")] });
      expect(doc.bar).toMatchObject(expected ?? {});
    });

  it("has no bar without a leader or, before any measurement, without the policy", () => {
    expect(buildLeaderboardDocument({ ...base, standing: {} }).bar).toBeNull();
    expect(buildLeaderboardDocument({ ...base, policy: undefined }).bar).toBeNull();
  });

  it("lists each miner's attempts newest first, capped, with the latest report's next steps", () => {
    const many = Array.from({ length: maxAttemptsPerMiner + 5 }, (_, i) => report("cha", i + 1));
    const doc = buildLeaderboardDocument({
      ...base,
      reports: many.reverse(),
      rounds: many.map((_r, i) => round(i + 1)),
    });
    const cha = doc.miners.find((m) => m.hotkey === "cha");
    expect(cha?.attempts).toHaveLength(maxAttemptsPerMiner);
    expect(cha?.attempts[0]?.roundId).toBe(`round-${maxAttemptsPerMiner + 5}`);
    expect(cha?.nextSteps).toEqual([`step ${maxAttemptsPerMiner + 5}`]);
    // A report of an earlier submission gives no advice about the current one.
    const replaced = buildLeaderboardDocument({
      ...base,
      reports: [{ ...report("cha", 1), submissionId: "old" }],
    });
    expect(replaced.miners.find((m) => m.hotkey === "cha")?.nextSteps).toEqual([]);
    expect(doc.miners.find((m) => m.hotkey === "lea")?.attempts).toEqual([]);
  });

  it("shows a sealed, waiting or unpaid submission as such, with its reason and what to do", () => {
    const rows: LeaderboardRow[] = [
      {
        ...row("sea", "", null, "sealed until drand round 77"),
        state: "sealed",
        image: null,
        reason: "timelocked commitment of block 9: evaluated once the chain reveals it",
      },
      { ...row("wai", "s-wai", null, "waiting for a round"), state: "pending" },
      {
        ...row("unp", "s-unp", null, "unpaid"),
        state: "unpaid",
        reason: "unpaid: no submission fee names hotkey unp and digest sha256:aa in blocks 1-9.",
      },
    ];
    const doc = buildLeaderboardDocument({ ...base, rows, reports: [] });
    const miner = (hotkey: string) => doc.miners.find((m) => m.hotkey === hotkey);
    expect(miner("sea")).toMatchObject({
      state: "sealed",
      verdict: "sealed until drand round 77",
      rank: null,
    });
    expect(miner("sea")?.nextSteps.join(" ")).toMatch(/drand-timelocked .* reveals it/);
    expect(miner("wai")?.nextSteps.join(" ")).toMatch(/measured in the next round/);
    expect(miner("unp")).toMatchObject({
      state: "unpaid",
      reason: expect.stringMatching(/^unpaid: no submission fee/),
    });
    expect(miner("unp")?.nextSteps.join(" ")).toMatch(/cacheon-miner commit --fee/);
  });
});
