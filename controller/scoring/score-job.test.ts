import { describe, expect, it } from "vitest";
import { type ArmMeasurement, type ArmRoleName, compareOnPod, scoreJob } from "./score-job.ts";
import { defaultScoringPolicy, resolveScoringPolicy } from "./scoring-policy.ts";

function arm(role: ArmRoleName, wallS: number, extra: Partial<ArmMeasurement> = {}): ArmMeasurement {
  return {
    armId: role,
    role,
    submissionId: role.endsWith("baseline") ? "" : `s-${role}`,
    outcome: "measured",
    reason: "",
    wallS,
    wallCv: 0,
    repetitions: 3,
    requests: 10,
    failedRequests: 0,
    correctnessPassed: role.endsWith("baseline") ? undefined : true,
    correctnessReasons: [],
    ...extra,
  };
}

const policy = defaultScoringPolicy;

describe("scoreJob", () => {
  it("speed is the bookends' mean wall time over the arm's", () => {
    const score = scoreJob(
      [arm("opening-baseline", 99), arm("challenger", 50), arm("closing-baseline", 101)],
      policy,
    );
    expect(score.decision).toBe("decided");
    expect(score.baselineWallS).toBe(100);
    expect(score.bookendSpread).toBeCloseTo(0.02);
    expect(score.arms).toHaveLength(1);
    expect(score.arms[0]?.speed).toBeCloseTo(2);
    expect(score.arms[0]?.gate).toBe("pass");
  });

  it("bookends disagreeing beyond the limit make the job no decision", () => {
    const score = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50), arm("closing-baseline", 106)],
      policy,
    );
    expect(score.decision).toBe("no-decision");
    expect(score.reason).toMatch(/bookends disagree by 5\.83% \(limit 5\.00%\)/);
    const loose = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50), arm("closing-baseline", 106)],
      resolveScoringPolicy({ bookendLimit: 0.1 }),
    );
    expect(loose.decision).toBe("decided");
  });

  it("a missing or unmeasured bookend makes the job invalid", () => {
    expect(scoreJob([arm("opening-baseline", 100), arm("challenger", 50)], policy).decision).toBe("invalid");
    const crashed = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("challenger", 50),
        arm("closing-baseline", 0, { outcome: "crashed", reason: "exit 137" }),
      ],
      policy,
    );
    expect(crashed.decision).toBe("invalid");
    expect(crashed.reason).toMatch(/closing-baseline was not measured \(crashed: exit 137\)/);
    expect(crashed.arms[0]?.speed).toBe(0);
  });

  it("the correctness gate zeroes wrong, unmeasured and failing arms with the reason", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("challenger", 40, {
          armId: "wrong",
          correctnessPassed: false,
          correctnessReasons: ["7 prompts: divergent token not in reference top-5"],
        }),
        arm("challenger", 40, { armId: "silent", correctnessPassed: undefined }),
        arm("challenger", 0, { armId: "never", outcome: "never-ready", reason: "no /health in 750 s" }),
        arm("challenger", 40, { armId: "flaky", failedRequests: 1 }),
        arm("challenger", Number.NaN, { armId: "nan" }),
        arm("closing-baseline", 100),
      ],
      policy,
    );
    const byId = Object.fromEntries(score.arms.map((a) => [a.armId, a]));
    expect(byId.wrong).toMatchObject({ gate: "fail", speed: 0 });
    expect(byId.wrong?.reason).toMatch(/correctness gate failed: 7 prompts: divergent token/);
    expect(byId.silent?.reason).toMatch(/no evidence reported/);
    expect(byId.never?.reason).toMatch(/not measured: never-ready \(no \/health in 750 s\)/);
    expect(byId.flaky?.reason).toMatch(/1 of 10 scored requests failed/);
    expect(byId.nan?.reason).toMatch(/no valid wall time/);
    const tolerant = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("challenger", 40, { failedRequests: 1 }),
        arm("closing-baseline", 100),
      ],
      resolveScoringPolicy({ maxFailedRequestFraction: 0.1 }),
    );
    expect(tolerant.arms[0]?.gate).toBe("pass");
  });

  it("a leader failing on the pod makes the job no decision", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", 50, { outcome: "crashed", reason: "oom" }),
        arm("challenger", 40),
        arm("closing-baseline", 100),
      ],
      policy,
    );
    expect(score.decision).toBe("no-decision");
    expect(score.reason).toMatch(/the leader failed on this pod/);
  });
});

describe("findings", () => {
  const flagged = { findings: ["repetitions 2-3 were 40% faster than the first: responses may be cached"] };
  it("an arm the agent flagged fails, unless the baseline is flagged too or the policy says not to", () => {
    const score = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50, flagged), arm("closing-baseline", 100)],
      policy,
    );
    expect(score.arms[0]).toMatchObject({ gate: "fail", speed: 0 });
    expect(score.arms[0]?.reason).toMatch(/flagged by the agent: repetitions 2-3 were 40% faster/);
    const both = scoreJob(
      [arm("opening-baseline", 100, flagged), arm("challenger", 50, flagged), arm("closing-baseline", 100)],
      policy,
    );
    expect(both.arms[0]?.gate).toBe("pass");
    const off = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50, flagged), arm("closing-baseline", 100)],
      resolveScoringPolicy({ failOnFindings: false }),
    );
    expect(off.arms[0]?.gate).toBe("pass");
  });
});

describe("compareOnPod", () => {
  const job = (leaderWall: number, challengerWall: number, cv = 0) =>
    scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", leaderWall, { wallCv: cv }),
        arm("challenger", challengerWall, { wallCv: cv }),
        arm("closing-baseline", 100),
      ],
      policy,
    );
  const compare = (score: ReturnType<typeof job>) =>
    compareOnPod(score, score.arms[1] as never, score.arms[0], policy);

  it("needs more than the 1% moat when the pod is quiet", () => {
    expect(compare(job(50, 50 / 1.009)).beats).toBe(false);
    const c = compare(job(50, 50 / 1.011));
    expect(c.bar).toBeCloseTo(1.01);
    expect(c.ratio).toBeCloseTo(1.011);
    expect(c.beats).toBe(true);
  });

  it("the bar grows with k x the measured noise", () => {
    const c = compare(job(50, 50 / 1.03, 0.02));
    // combined standard error sqrt(2) * 0.02 / sqrt(3) = 1.63%; bar = 1 + 2 x 1.63%
    expect(c.noise).toBeCloseTo((Math.sqrt(2) * 0.02) / Math.sqrt(3), 5);
    expect(c.bar).toBeCloseTo(1 + 2 * c.noise, 6);
    expect(c.beats).toBe(false);
    expect(compare(job(50, 50 / 1.05, 0.02)).beats).toBe(true);
  });

  it("bookend spread counts as noise", () => {
    const score = scoreJob(
      [arm("opening-baseline", 98), arm("leader", 50), arm("challenger", 48.5), arm("closing-baseline", 102)],
      policy,
    );
    const c = compareOnPod(score, score.arms[1] as never, score.arms[0], policy);
    expect(c.noise).toBeCloseTo(0.04);
    expect(c.bar).toBeCloseTo(1.08);
    expect(c.beats).toBe(false);
  });

  it("nothing beats anything in an undecided job or with a failed challenger", () => {
    const undecided = scoreJob(
      [arm("opening-baseline", 100), arm("leader", 50), arm("challenger", 10), arm("closing-baseline", 120)],
      policy,
    );
    expect(compareOnPod(undecided, undecided.arms[1] as never, undecided.arms[0], policy).beats).toBe(false);
    const wrong = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", 50),
        arm("challenger", 10, { correctnessPassed: false }),
        arm("closing-baseline", 100),
      ],
      policy,
    );
    expect(compareOnPod(wrong, wrong.arms[1] as never, wrong.arms[0], policy).beats).toBe(false);
  });

  it("without a reference it compares with the baseline", () => {
    const score = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 90), arm("closing-baseline", 100)],
      policy,
    );
    const c = compareOnPod(score, score.arms[0] as never, undefined, policy);
    expect(c.ratio).toBeCloseTo(100 / 90);
    expect(c.beats).toBe(true);
  });
});

describe("resolveScoringPolicy", () => {
  it("fills defaults and names every bad field", () => {
    expect(resolveScoringPolicy({ minMargin: 0.02 })).toMatchObject({ minMargin: 0.02, noiseMultiplier: 2 });
    expect(() => resolveScoringPolicy({ minMargin: -1, bookendLimit: Number.NaN })).toThrow(
      /bookendLimit must be a number from 0 to 1, got null; minMargin must be a number from 0 to 1, got -1/,
    );
    expect(() => resolveScoringPolicy({ leaderMustBeatBaseline: "yes" as never })).toThrow(/true or false/);
  });
});
