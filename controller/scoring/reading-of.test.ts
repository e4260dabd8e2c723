import { describe, expect, it } from "vitest";
import { readingOf } from "./reading-of.ts";
import { type ArmMeasurement, type ArmRoleName, scoreJob } from "./score-job.ts";
import { defaultScoringPolicy } from "./scoring-policy.ts";

const policy = defaultScoringPolicy;
function arm(
  role: ArmRoleName,
  id: string,
  wallS: number,
  extra: Partial<ArmMeasurement> = {},
): ArmMeasurement {
  const baseline = role.endsWith("baseline");
  return {
    armId: `${role}-${id}`,
    role,
    submissionId: id,
    outcome: "measured",
    reason: "",
    wallS,
    wallCv: 0.002,
    repetitions: 3,
    requests: 10,
    failedRequests: 0,
    correctnessPassed: baseline ? undefined : true,
    correctnessReasons: [],
    ...extra,
  };
}
const crashed = { outcome: "crashed" as const, reason: "oom" };
const place = { jobId: "j1", podId: "pod-a" };

describe("readingOf", () => {
  it("compares a challenger with the seat holders beside it and with the baseline", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", "", 60),
        arm("leader", "L", 50),
        arm("challenger", "C", 40),
        arm("closing-baseline", "", 60),
      ],
      policy,
    );
    const r = readingOf(score, place, "C", policy);
    expect(r).toMatchObject({ jobId: "j1", podId: "pod-a", gate: "pass" });
    expect(r?.vsLeader?.ratio).toBeCloseTo(1.25, 6);
    expect(r?.vsLeader?.forfeit).toBeUndefined();
    expect(r?.vsRunnerUp).toBeUndefined();
    expect(r?.vsBaseline.ratio).toBeCloseTo(1.5, 6);
    expect(readingOf(score, place, "nobody", policy)).toBeUndefined();
  });

  it("a leader that failed on the pod forfeits: the runner-up stands in its seat there", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", "", 60),
        arm("leader", "L", 40, crashed),
        arm("runner-up", "R", 50),
        arm("challenger", "C", 45),
        arm("challenger", "D", 55),
        arm("closing-baseline", "", 60),
      ],
      policy,
    );
    expect(score.decision).toBe("decided");
    const c = readingOf(score, place, "C", policy);
    expect(c?.vsLeader).toMatchObject({ forfeit: true, beats: true });
    expect(c?.vsLeader?.ratio).toBeCloseTo(50 / 45, 6);
    // Slower than the runner-up: the empty leader's seat is not D's for the taking.
    const d = readingOf(score, place, "D", policy);
    expect(d?.vsLeader).toMatchObject({ forfeit: true, beats: false });
    expect(d?.vsRunnerUp?.beats).toBe(false);
  });

  it("with both seats failed, the seats are judged empty: the baseline's bar, or a passing gate when the policy allows", () => {
    const arms = [
      arm("opening-baseline", "", 60),
      arm("leader", "L", 40, crashed),
      arm("runner-up", "R", 40, crashed),
      arm("challenger", "C", 59.9),
      arm("closing-baseline", "", 60),
    ];
    const r = readingOf(scoreJob(arms, policy), place, "C", policy);
    expect(r?.vsLeader).toMatchObject({ forfeit: true, beats: false });
    expect(r?.vsRunnerUp).toMatchObject({ forfeit: true, beats: false });
    const lenient = { ...policy, leaderMustBeatBaseline: false };
    const l = readingOf(scoreJob(arms, lenient), place, "C", lenient);
    expect(l?.vsLeader).toMatchObject({ forfeit: true, beats: true });
  });

  it("the challengers' own failures beside a failed leader stand", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", "", 60),
        arm("leader", "L", 40, crashed),
        arm("challenger", "C", 30, { correctnessPassed: false, correctnessReasons: ["divergent"] }),
        arm("closing-baseline", "", 60),
      ],
      policy,
    );
    expect(readingOf(score, place, "C", policy)).toMatchObject({ gate: "fail", vsLeader: { beats: false } });
  });
});
