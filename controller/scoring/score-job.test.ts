import { describe, expect, it } from "vitest";
import {
  type ArmMeasurement,
  type ArmRoleName,
  compareOnPod,
  findingKind,
  medianInefficiency,
  ratioNoise,
  scoreJob,
} from "./score-job.ts";
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

  it("a leader failing on the pod leaves the job decided: the failure is the leader's, not the challengers'", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", 50, { outcome: "crashed", reason: "oom" }),
        arm("challenger", 40),
        arm("closing-baseline", 100),
      ],
      policy,
    );
    expect(score.decision).toBe("decided");
    expect(score.arms.map((a) => [a.role, a.gate])).toEqual([
      ["leader", "fail"],
      ["challenger", "pass"],
    ]);
    // No comparison with a failed arm: it never "beats" (readingOf judges the empty seat instead).
    expect(compareOnPod(score, score.arms[1] as never, score.arms[0], policy).beats).toBe(false);
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

  it("the baseline excuses only findings of the same kind", () => {
    const probe = "repeat-speedup: repeated probe prompts ran 15.0% faster than their first time";
    const score = scoreJob(
      [
        arm("opening-baseline", 100, flagged),
        arm("challenger", 50, { findings: [...flagged.findings, probe] }),
        arm("closing-baseline", 100, { findings: ["speed-outliers: 1 of 10 requests"] }),
      ],
      policy,
    );
    expect(score.arms[0]?.gate).toBe("fail");
    expect(score.arms[0]?.reason).toBe(`flagged by the agent: ${probe}`);
    expect(findingKind(probe)).toBe("repeat-speedup");
    expect(findingKind(flagged.findings[0] as string)).toBe("");
  });
});

describe("client-bound findings", () => {
  const clientBound = {
    findings: [
      "client-bound: the measuring client, not the server, limited 1 of 3 repetition(s) (repetition 2: client busy 93% of 10.00 s, ...)",
    ],
  };
  const cached = {
    findings: [
      "2 of 2 repeated requests took under 0.5x of the same prompt's first end-to-end time: responses may be cached",
    ],
  };
  it("never fail an arm: they are the referee's limitation, not the server's doing", () => {
    const score = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50, clientBound), arm("closing-baseline", 100)],
      policy,
    );
    expect(score.arms[0]?.gate).toBe("pass");
  });

  it("never excuse a challenger's own findings when the baseline shows them", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100, clientBound),
        arm("challenger", 50, cached),
        arm("closing-baseline", 100),
      ],
      policy,
    );
    expect(score.arms[0]).toMatchObject({ gate: "fail", speed: 0 });
    expect(score.arms[0]?.reason).toMatch(/^flagged by the agent: 2 of 2 repeated requests/);
    expect(score.arms[0]?.reason).not.toMatch(/client-bound/);
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

  it("the bar grows with k x the noise pooled from the repetitions", () => {
    const c = compare(job(50, 50 / 1.03, 0.02));
    // Leader and challenger CV 2%, bookends 0%, 3 repetitions each: pooled read CV
    // sqrt((2 x 2 x 0.02^2) / 8) = 1.41%; each median's error 1.41% x 1.16 / sqrt(3); the ratio's
    // error is the two arms' in quadrature plus both bookends' scaled by the 1/3 between the arms
    // (the interpolated baseline); the bookends agree, so no drift residual.
    const arm = ((0.02 / Math.SQRT2) * 1.16) / Math.sqrt(3);
    expect(c.noise).toBeCloseTo(Math.sqrt(2 * arm ** 2 + (1 / 9) * 2 * arm ** 2), 6);
    expect(c.bar).toBeCloseTo(1 + 2 * c.noise, 6);
    expect(c.beats).toBe(true);
    expect(compare(job(50, 50 / 1.02, 0.02))).toMatchObject({ beats: false, insideNoise: true });
    expect(compare(job(50, 50 / 1.005, 0.02))).toMatchObject({ beats: false, insideNoise: false });
  });

  it("more repetitions lower the bar", () => {
    const withReps = (repetitions: number) => {
      const score = scoreJob(
        [
          arm("opening-baseline", 100, { wallCv: 0.01, repetitions }),
          arm("leader", 50, { wallCv: 0.01, repetitions }),
          arm("challenger", 49, { wallCv: 0.01, repetitions }),
          arm("closing-baseline", 100, { wallCv: 0.01, repetitions }),
        ],
        policy,
      );
      return compareOnPod(score, score.arms[1] as never, score.arms[0], policy).noise;
    };
    expect(withReps(7)).toBeLessThan(withReps(3) * 0.7);
    expect(withReps(3)).toBeLessThan(withReps(2));
  });

  it("a noisy challenger raises its own bar through the pool", () => {
    const noisy = scoreJob(
      [
        arm("opening-baseline", 100, { wallCv: 0.005 }),
        arm("leader", 50, { wallCv: 0.005 }),
        arm("challenger", 48, { wallCv: 0.08 }),
        arm("closing-baseline", 100, { wallCv: 0.005 }),
      ],
      policy,
    );
    const c = compareOnPod(noisy, noisy.arms[1] as never, noisy.arms[0], policy);
    expect(c.ratio).toBeCloseTo(50 / 48);
    expect(c.noise).toBeGreaterThan(0.03);
    expect(c.beats).toBe(false);
  });

  it("bookend drift is corrected by each arm's place between the bookends", () => {
    // The pod slowed 4% over the job: every arm ran 0%, 1.33%, 2.67%, 4% slower than at the
    // start. The challenger (truly 3% faster) ran after the leader, so the raw ratio hides most
    // of its lead; the interpolated baseline restores it.
    const score = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", 50 * (1 + 0.04 / 3)),
        arm("challenger", (50 / 1.03) * (1 + 0.08 / 3)),
        arm("closing-baseline", 104),
      ],
      policy,
    );
    expect(score.arms.map((a) => a.position)).toEqual([1 / 3, 2 / 3]);
    expect(score.arms[0]?.speed).toBeCloseTo(2, 6);
    const c = compareOnPod(score, score.arms[1] as never, score.arms[0], policy);
    expect(c.ratio).toBeCloseTo(1.03, 6);
    // The drift left as noise would be 0.25 x spread 3.92% x 1/3 apart, but no ratio is known
    // better than the bookends agreed: the noise is the spread, and a pod that drifted 3.9% in
    // the job cannot certify a 3% lead.
    expect(0.25 * (4 / 102) * (1 / 3)).toBeLessThan(4 / 102);
    expect(c.noise).toBeCloseTo(4 / 102, 6);
    expect(c.beats).toBe(false);
    expect(c.insideNoise).toBe(true);
    const off = resolveScoringPolicy({ driftCorrection: false, driftResidual: 1 });
    const raw = scoreJob(
      [
        arm("opening-baseline", 100),
        arm("leader", 50 * (1 + 0.04 / 3)),
        arm("challenger", (50 / 1.03) * (1 + 0.08 / 3)),
        arm("closing-baseline", 104),
      ],
      off,
    );
    const r = compareOnPod(raw, raw.arms[1] as never, raw.arms[0], off);
    expect(r.ratio).toBeCloseTo((50 * (1 + 0.04 / 3)) / ((50 / 1.03) * (1 + 0.08 / 3)), 6);
    expect(r.beats).toBe(false);
  });

  it("with one repetition per arm, one read's noise is the bookend difference over sqrt(2)", () => {
    const one = { repetitions: 1 };
    const score = scoreJob(
      [
        arm("opening-baseline", 99, one),
        arm("leader", 50, one),
        arm("challenger", 48, one),
        arm("closing-baseline", 101, one),
      ],
      resolveScoringPolicy({ driftResidual: 0 }),
    );
    const read = 0.02 / Math.SQRT2;
    // challenger and leader one read each, plus both bookends' reads 1/3 apart.
    const expected = Math.sqrt(2 * read ** 2 + (1 / 3) ** 2 * 2 * read ** 2);
    expect(
      ratioNoise(score, score.arms[1] as never, score.arms[0], resolveScoringPolicy({ driftResidual: 0 })),
    ).toBeCloseTo(expected, 9);
  });

  it("against the baseline the interpolated bookends' error counts at the arm's place", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100, { wallCv: 0.01 }),
        arm("challenger", 80, { wallCv: 0.01 }),
        arm("closing-baseline", 100, { wallCv: 0.01 }),
      ],
      policy,
    );
    const e = (0.01 * 1.16) / Math.sqrt(3);
    // halfway: (1/2)^2 of each bookend's error
    expect(ratioNoise(score, score.arms[0] as never, undefined, policy)).toBeCloseTo(
      Math.sqrt(e ** 2 + 0.25 * e ** 2 + 0.25 * e ** 2),
      9,
    );
  });

  it("medianInefficiency: 1 for one or two reads, towards sqrt(pi/2) for many", () => {
    expect(medianInefficiency(1)).toBe(1);
    expect(medianInefficiency(2)).toBe(1);
    expect(medianInefficiency(3)).toBeCloseTo(1.16);
    expect(medianInefficiency(50)).toBeCloseTo(Math.sqrt(Math.PI / 2));
  });

  it("an arm reporting a negative or NaN CV adds nothing to the pool", () => {
    const score = scoreJob(
      [
        arm("opening-baseline", 100, { wallCv: 0.01 }),
        arm("leader", 50, { wallCv: Number.NaN }),
        arm("challenger", 49, { wallCv: -1 }),
        arm("closing-baseline", 100, { wallCv: 0.01 }),
      ],
      resolveScoringPolicy({ driftCorrection: false }),
    );
    const n = ratioNoise(
      score,
      score.arms[1] as never,
      score.arms[0],
      resolveScoringPolicy({ driftCorrection: false }),
    );
    expect(Number.isFinite(n)).toBe(true);
    expect(n).toBeCloseTo(Math.sqrt(2) * ((0.01 * 1.16) / Math.sqrt(3)), 9);
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

describe("time to token k", () => {
  /** Timings of `requests` requests per repetition: the arm's time, and the bookends' (ms). */
  const timings = (
    reps: number[][],
    armMs: (rep: number, i: number) => number,
    closingMs: (rep: number, i: number) => number = () => 1000,
  ) =>
    reps.flatMap((perRep, rep) =>
      perRep.map((openingMs, i) => ({
        repetition: rep,
        armMs: armMs(rep, i),
        openingMs,
        closingMs: closingMs(rep, i),
      })),
    );
  const flat = [
    [1000, 1000, 1000],
    [1000, 1000, 1000],
    [1000, 1000, 1000],
  ];
  const bookends = (closingMs?: (rep: number, i: number) => number) => ({
    opening: arm("opening-baseline", 100),
    closing: arm("closing-baseline", 100, { tokenK: timings(flat, closingMs ?? (() => 1000), closingMs) }),
  });

  it("speed is the median over requests of the baseline's time to token k over the arm's; whole wall is kept beside it", () => {
    const { opening, closing } = bookends();
    // A server that stops at 90% of the baseline's tokens, each token as fast as the baseline's:
    // its whole wall is 10% shorter, its time to token k the same.
    const truncating = arm("challenger", 90, { armId: "truncating", tokenK: timings(flat, () => 1000) });
    const faster = arm("challenger", 80, {
      armId: "faster",
      tokenK: timings(flat, (_, i) => [800, 810, 2000][i] as number),
    });
    const score = scoreJob([opening, truncating, faster, closing], policy);
    expect(score.decision).toBe("decided");
    expect(score.statistic).toBe("time-to-token-k");
    const [t, f] = score.arms;
    expect(t?.statistic).toBe("time-to-token-k");
    expect(t?.speed).toBeCloseTo(1, 12);
    expect(t?.wallSpeed).toBeCloseTo(100 / 90, 12);
    // The median ignores the one slow request.
    expect(f?.speed).toBeCloseTo(1000 / 810, 12);
    expect(compareOnPod(score, t as never, undefined, policy).beats).toBe(false);
  });

  it("corrects drift per request at the arm's place between the bookends", () => {
    // The pod slowed by 4% between the bookends; the arm in the middle ran at the pod's speed then.
    const { opening, closing } = bookends(() => 1040);
    const middle = arm("challenger", 102, {
      tokenK: timings(
        flat,
        () => 1020,
        () => 1040,
      ),
    });
    const score = scoreJob([opening, middle, closing], policy);
    expect(score.bookendSpread).toBeCloseTo((2 * 0.04) / 2.04, 6);
    expect(score.arms[0]?.speed).toBeCloseTo(1, 12);
    const uncorrected = scoreJob(
      [opening, middle, closing],
      resolveScoringPolicy({ driftCorrection: false }),
    );
    expect(uncorrected.arms[0]?.speed).toBeCloseTo(1, 12);
    const first = scoreJob(
      [
        opening,
        {
          ...middle,
          tokenK: timings(
            flat,
            () => 1000,
            () => 1040,
          ),
        },
        arm("challenger", 1, { armId: "x" }),
        closing,
      ],
      policy,
    );
    // Run right after the opening baseline (position 1/3), at the opening's speed: slightly "faster".
    expect(first.arms[0]?.speed).toBeCloseTo((1000 + 40 / 3) / 1000, 12);
  });

  it("bookends whose times to token k disagree beyond the limit make the job no decision", () => {
    const { opening, closing } = bookends(() => 1100);
    const score = scoreJob(
      [opening, arm("challenger", 90, { tokenK: timings(flat, () => 900) }), closing],
      policy,
    );
    expect(score.decision).toBe("no-decision");
    expect(score.reason).toMatch(/bookends disagree by 9\.52%/);
  });

  it("the noise is the spread of per-repetition speeds, shared as one read's spread", () => {
    const closingMs = (rep: number) => [990, 1010, 1000][rep] as number;
    const { opening, closing } = bookends(closingMs);
    const noisy = arm("challenger", 90, {
      tokenK: timings(flat, (rep) => [900, 950, 925][rep] as number, closingMs),
    });
    const score = scoreJob([opening, noisy, closing], policy);
    const a = score.arms[0];
    // The baseline in the middle of the bookends: 995, 1005 and 1000 ms.
    const perRep = [995 / 900, 1005 / 950, 1000 / 925];
    expect(a?.repetitions).toBe(3);
    const m = perRep.reduce((x, y) => x + y) / 3;
    const cv = Math.sqrt(perRep.reduce((x, y) => x + (y - m) ** 2, 0) / 2) / m;
    expect(a?.wallCv).toBeCloseTo(cv / Math.SQRT2, 6);
    expect(score.bookends[0]?.wallCv).toBeGreaterThan(0);
    // A steadier arm on the same pod gets a lower bar: the pool carries each arm's spread.
    const steady = arm("challenger", 90, { tokenK: timings(flat, () => 925, closingMs) });
    const quiet = scoreJob([opening, steady, closing], policy);
    expect(ratioNoise(score, a as never, undefined, policy)).toBeGreaterThan(
      ratioNoise(quiet, quiet.arms[0] as never, undefined, policy),
    );
  });

  it("an arm without timings fails its gate when the bookends have them", () => {
    const { opening, closing } = bookends();
    const score = scoreJob([opening, arm("challenger", 50), closing], policy);
    expect(score.arms[0]?.gate).toBe("fail");
    expect(score.arms[0]?.reason).toMatch(/no request could be timed to its k-th token/);
  });

  it("without timings from the agent the job is scored by whole wall", () => {
    const score = scoreJob(
      [arm("opening-baseline", 100), arm("challenger", 50), arm("closing-baseline", 100)],
      policy,
    );
    expect(score.statistic).toBe("whole-wall");
    expect(score.arms[0]?.speed).toBeCloseTo(2);
  });

  it("an arm the reference could not judge makes the job no decision", () => {
    const { opening, closing } = bookends();
    const score = scoreJob(
      [
        opening,
        arm("challenger", 90, {
          tokenK: timings(flat, () => 900),
          noDecisionReason: "teacher forcing failed: HTTP 500",
        }),
        closing,
      ],
      policy,
    );
    expect(score.decision).toBe("no-decision");
    expect(score.reason).toMatch(
      /reference could not judge challenger's outputs \(teacher forcing failed: HTTP 500\); rerun/,
    );
  });
});

describe("resolveScoringPolicy", () => {
  it("fills defaults and names every bad field", () => {
    expect(resolveScoringPolicy({ minMargin: 0.02 })).toMatchObject({ minMargin: 0.02, noiseMultiplier: 2 });
    expect(() => resolveScoringPolicy({ minMargin: -1, bookendLimit: Number.NaN })).toThrow(
      /bookendLimit must be a number from 0 to 1, got null; minMargin must be a number from 0 to 1, got -1/,
    );
    expect(() => resolveScoringPolicy({ leaderMustBeatBaseline: "yes" as never })).toThrow(/true or false/);
    expect(() => resolveScoringPolicy({ driftCorrection: 1 as never })).toThrow(
      /driftCorrection must be true or false/,
    );
    expect(() => resolveScoringPolicy({ driftResidual: 11 })).toThrow(
      /driftResidual must be a number from 0 to 10, got 11/,
    );
  });
});
