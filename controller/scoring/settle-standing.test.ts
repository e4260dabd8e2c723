import { describe, expect, it } from "vitest";
import type { PodComparison } from "./score-job.ts";
import { defaultScoringPolicy, type ScoringPolicy } from "./scoring-policy.ts";
import {
  type ChallengerEvidence,
  type ChallengerReading,
  classifyReading,
  compareSeats,
  insideNoiseBand,
  remeasureDecision,
  type Standing,
  settleStanding,
} from "./settle-standing.ts";

// The fixed design (one reading, re-measured inside the noise band); the sequential design has its own tests.
const policy: ScoringPolicy = { ...defaultScoringPolicy, decision: "fixed" };
const cmp = (ratio: number, bar = 1.01): PodComparison => ({
  ratio,
  bar,
  noise: 0,
  beats: ratio > bar,
  insideNoise: false,
});

function reading(
  speed: number,
  vsLeader?: number,
  extra: Partial<ChallengerReading> = {},
): ChallengerReading {
  return {
    jobId: "j",
    podId: "pod-a",
    gate: "pass",
    reason: "",
    speed,
    vsLeader: vsLeader === undefined ? undefined : cmp(vsLeader),
    vsBaseline: cmp(speed),
    ...extra,
  };
}

const leader = { submissionId: "L", hotkey: "hL", commitBlock: 10, settledSpeed: 1.5 };
const runnerUp = { submissionId: "R", hotkey: "hR", commitBlock: 11, settledSpeed: 1.3 };

describe("classifyReading", () => {
  const standing: Standing = { leader, runnerUp };
  it("sorts a first reading into failed, candidates and below bar", () => {
    expect(classifyReading(undefined, standing, policy)).toBe("no-result");
    expect(classifyReading(reading(0, 0, { gate: "fail" }), standing, policy)).toBe("failed");
    expect(classifyReading(reading(1.6, 1.05), standing, policy)).toBe("candidate-leader");
    expect(classifyReading(reading(1.4, 0.95, { vsRunnerUp: cmp(1.07) }), standing, policy)).toBe(
      "candidate-runner-up",
    );
    expect(classifyReading(reading(1.3, 0.9, { vsRunnerUp: cmp(1.0) }), standing, policy)).toBe("below-bar");
  });
  it("with empty seats the baseline is the bar", () => {
    expect(classifyReading(reading(1.2), {}, policy)).toBe("candidate-leader");
    expect(classifyReading(reading(1.005), {}, policy)).toBe("below-bar");
    expect(classifyReading(reading(1.005), {}, { ...policy, leaderMustBeatBaseline: false })).toBe(
      "candidate-leader",
    );
    expect(classifyReading(reading(1.2, 0.9), { leader }, policy)).toBe("candidate-runner-up");
  });
});

describe("settleStanding", () => {
  const ev = (
    id: string,
    block: number,
    first?: ChallengerReading,
    reproduction?: ChallengerReading,
  ): ChallengerEvidence => ({
    submissionId: id,
    hotkey: `h${id}`,
    commitBlock: block,
    first,
    reproduction,
  });

  it("a win is paid only after reproduction, at the lower speed, and the old leader becomes runner-up", () => {
    const pending = settleStanding({ leader, runnerUp }, [ev("C", 20, reading(1.7, 1.1))], policy);
    expect(pending.standing.leader?.submissionId).toBe("L");
    expect(pending.verdicts[0]?.verdict).toBe("awaiting-reproduction");

    const done = settleStanding(
      { leader, runnerUp },
      [ev("C", 20, reading(1.7, 1.1), reading(1.65, 1.08, { podId: "pod-b" }))],
      policy,
    );
    expect(done.standing.leader).toEqual({
      submissionId: "C",
      hotkey: "hC",
      commitBlock: 20,
      settledSpeed: 1.65,
    });
    expect(done.standing.runnerUp?.submissionId).toBe("L");
    expect(done.verdicts[0]).toMatchObject({ verdict: "leader", speed: 1.7, settledSpeed: 1.65 });
  });

  it("a leader unseated this round (failed on two pods) is not kept, nor displaced to runner-up", () => {
    const unseated = new Set(["L"]);
    const won = settleStanding(
      { leader, runnerUp },
      [ev("C", 20, reading(1.7, 1.1), reading(1.65, 1.08, { podId: "pod-b" }))],
      policy,
      unseated,
    );
    expect(won.standing.leader?.submissionId).toBe("C");
    // The runner-up keeps its seat instead of losing it to the failed leader.
    expect(won.standing.runnerUp?.submissionId).toBe("R");
    const none = settleStanding({ leader, runnerUp }, [], policy, unseated);
    expect(none.standing).toEqual({ leader: runnerUp, runnerUp: undefined });
  });

  it("a win that does not hold on the second pod is not paid", () => {
    const s = settleStanding(
      { leader, runnerUp },
      [ev("C", 20, reading(1.6, 1.05), reading(1.5, 1.0, { podId: "pod-b" }))],
      policy,
    );
    expect(s.standing.leader?.submissionId).toBe("L");
    expect(s.verdicts[0]?.verdict).not.toBe("leader");
    expect(s.verdicts[0]?.reason).toMatch(/not in the reproduction on pod pod-b/);
    // With the runner-up seat empty, the same readings still earn it (beat the baseline twice).
    const empty = settleStanding({ leader }, [ev("C", 20, reading(1.6, 1.05), reading(1.5, 1.0))], policy);
    expect(empty.standing.runnerUp?.submissionId).toBe("C");
  });

  it("failing the gate in reproduction is a failure", () => {
    const s = settleStanding(
      { leader },
      [
        ev(
          "C",
          20,
          reading(1.6, 1.05),
          reading(0, 0, { gate: "fail", reason: "correctness gate failed: x" }),
        ),
      ],
      policy,
    );
    expect(s.verdicts[0]).toMatchObject({ verdict: "failed", settledSpeed: 0 });
    expect(s.verdicts[0]?.reason).toMatch(/failed in reproduction: correctness gate failed/);
  });

  it("first round: fastest confirmed leads, the next is runner-up; ties go to the earlier commit", () => {
    const s = settleStanding(
      {},
      [
        ev("A", 30, reading(1.5), reading(1.5)),
        ev("B", 31, reading(2.0), reading(1.9)),
        ev("B2", 29, reading(1.905), reading(1.9)),
        ev("W", 5, reading(0, undefined, { gate: "fail", reason: "wrong" })),
        ev("X", 6),
      ],
      policy,
    );
    expect(s.standing.leader?.submissionId).toBe("B2");
    expect(s.standing.runnerUp?.submissionId).toBe("B");
    const v = Object.fromEntries(s.verdicts.map((x) => [x.submissionId, x.verdict]));
    expect(v).toEqual({ A: "below-bar", B: "runner-up", B2: "leader", W: "failed", X: "no-result" });
  });

  it("a reproduced runner-up candidate replaces the runner-up only", () => {
    const s = settleStanding(
      { leader, runnerUp },
      [
        ev(
          "C",
          20,
          reading(1.4, 0.95, { vsRunnerUp: cmp(1.08) }),
          reading(1.38, 0.94, { vsRunnerUp: cmp(1.06), podId: "pod-b" }),
        ),
      ],
      policy,
    );
    expect(s.standing.leader?.submissionId).toBe("L");
    expect(s.standing.runnerUp?.submissionId).toBe("C");
  });

  it("compareSeats orders by speed and breaks ties by commit", () => {
    const a = { submissionId: "a", hotkey: "a", commitBlock: 5, settledSpeed: 1.5 };
    const b = { submissionId: "b", hotkey: "b", commitBlock: 3, settledSpeed: 1.505 };
    expect(compareSeats(a, b, 0.01)).toBeGreaterThan(0);
    expect(compareSeats(a, { ...b, settledSpeed: 1.6 }, 0.01)).toBeGreaterThan(0);
    expect(compareSeats({ ...a, settledSpeed: 1.7 }, b, 0.01)).toBeLessThan(0);
  });
});

describe("a reading inside the noise band", () => {
  // Faster than the leader by 2%, past the 1% moat, but the pod's noise put the bar at 3%.
  const band = (ratio: number, bar = 1.03): PodComparison => ({
    ratio,
    bar,
    noise: 0.015,
    beats: ratio > bar,
    insideNoise: ratio > 1 + policy.minMargin && ratio <= bar,
  });
  // It does not beat the runner-up either (a synthetic pod: the seats' speeds are other pods').
  const standing: Standing = { leader, runnerUp };
  const inside = reading(1.53, undefined, {
    vsLeader: band(1.02),
    vsRunnerUp: band(1.005),
    vsBaseline: cmp(1.53),
  });

  it("is re-measured up to maxRemeasurements times, then settles", () => {
    expect(insideNoiseBand(inside, standing, policy)).toBe(true);
    expect(remeasureDecision(inside, standing, policy, 0)).toBe("remeasure");
    expect(remeasureDecision(inside, standing, policy, 1)).toBe("remeasure");
    expect(remeasureDecision(inside, standing, policy, 2)).toBe("settle");
    expect(remeasureDecision(inside, standing, { ...policy, maxRemeasurements: 0 }, 0)).toBe("settle");
  });

  it("a reading past the bar, below the moat, failed or missing is never re-measured", () => {
    expect(remeasureDecision(reading(1.6, undefined, { vsLeader: band(1.05) }), standing, policy, 0)).toBe(
      "settle",
    );
    expect(remeasureDecision(reading(1.5, undefined, { vsLeader: band(1.005) }), standing, policy, 0)).toBe(
      "settle",
    );
    expect(remeasureDecision({ ...inside, gate: "fail" }, standing, policy, 0)).toBe("settle");
    expect(remeasureDecision(undefined, standing, policy, 0)).toBe("settle");
  });

  it("a reading that takes the runner-up's seat is reproduced, not re-measured for the leader's", () => {
    const runner = { ...inside, vsRunnerUp: cmp(1.2) };
    expect(insideNoiseBand(runner, { leader, runnerUp }, policy)).toBe(false);
    // Asked about the leader's seat alone (a reproduction of a leader candidate), it is inside.
    expect(insideNoiseBand(runner, { leader, runnerUp }, policy, "leader")).toBe(true);
  });

  it("with no leader the baseline's band counts", () => {
    const vsBase = reading(1.02, undefined, { vsBaseline: band(1.02) });
    expect(remeasureDecision(vsBase, {}, policy, 0)).toBe("remeasure");
    expect(insideNoiseBand(vsBase, {}, { ...policy, leaderMustBeatBaseline: false })).toBe(false);
  });

  it("settles as no result while re-measurements are owed, below the bar once they are spent", () => {
    const e: ChallengerEvidence = { submissionId: "C", hotkey: "hC", commitBlock: 20, first: inside };
    const owed = settleStanding(standing, [{ ...e, remeasurements: { first: 1, reproduction: 0 } }], policy);
    expect(owed.verdicts[0]?.verdict).toBe("no-result");
    expect(owed.verdicts[0]?.reason).toMatch(/inside the noise band.*measured again/);
    const spent = settleStanding(standing, [{ ...e, remeasurements: { first: 2, reproduction: 0 } }], policy);
    expect(spent.verdicts[0]?.verdict).toBe("below-bar");
    expect(spent.verdicts[0]?.reason).toMatch(/still inside the noise band after 2 re-measurements/);
    expect(spent.standing.leader?.submissionId).toBe("L");
    const off = settleStanding(standing, [e], { ...policy, maxRemeasurements: 0 });
    expect(off.verdicts[0]?.verdict).toBe("below-bar");
  });

  it("a reproduction inside the band waits for its re-measurement, then is not reproduced", () => {
    const e: ChallengerEvidence = {
      submissionId: "C",
      hotkey: "hC",
      commitBlock: 20,
      first: reading(1.6, 1.06, { vsRunnerUp: cmp(1.2) }),
      reproduction: { ...inside, podId: "pod-b" },
    };
    const owed = settleStanding(standing, [{ ...e, remeasurements: { first: 0, reproduction: 0 } }], policy);
    expect(owed.verdicts[0]?.verdict).toBe("awaiting-reproduction");
    expect(owed.verdicts[0]?.reason).toMatch(/inside the noise band/);
    const spent = settleStanding(standing, [{ ...e, remeasurements: { first: 0, reproduction: 2 } }], policy);
    expect(spent.verdicts[0]?.verdict).toBe("not-reproduced");
  });
});
