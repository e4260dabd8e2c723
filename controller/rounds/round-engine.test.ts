import { describe, expect, it } from "vitest";
import type { PodIdentity } from "../pods/pod-identity.ts";
import { type ArmMeasurement, type JobScore, scoreJob } from "../scoring/score-job.ts";
import { defaultScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { PlannedArm } from "./plan-jobs.ts";
import {
  type PodSnapshot,
  type RoundCommand,
  type RoundEngineConfig,
  type RoundEvent,
  type RoundView,
  stepRound,
} from "./round-engine.ts";
import type { RoundJob } from "./round-job.ts";
import type { RoundSubmission } from "./round-readings.ts";
import { derivedSeed } from "./round-seed.ts";

// The round engine on plain data: every case is (view, event) -> commands, no store, no runner,
// no Docker. Speeds are exact (wallCv 0), so each comparison is decided by the bar alone.

const config: RoundEngineConfig = { policy: defaultScoringPolicy, maxAttempts: 3, providers: 1 };
const seed = "ab".repeat(32);
const sub = (id: string, state: RoundSubmission["state"] = "pending"): RoundSubmission => ({
  id,
  hotkey: `hk-${id}`,
  state,
  image: `r/${id}@sha256:${"a".repeat(64)}`,
  commitBlock: 10,
});
const subject = (id: string) => ({ submissionId: id, hotkey: `hk-${id}`, image: sub(id).image as string });

/** Arms of a job: bookends around the given seat holders and challengers. */
function armsOf(ids: { leader?: string; challengers: string[] }): PlannedArm[] {
  const arms: PlannedArm[] = [{ armId: "a0", role: "opening-baseline" }];
  if (ids.leader) arms.push({ armId: "a1", role: "leader", subject: subject(ids.leader) });
  for (const c of ids.challengers)
    arms.push({ armId: `a${arms.length}`, role: "challenger", subject: subject(c) });
  arms.push({ armId: `a${arms.length}`, role: "closing-baseline" });
  return arms;
}

/** What the arms of a job measured: wall time = 60 s / speed; the bookends at 60 s (times `drift` for the closing one). */
function measurements(
  arms: readonly PlannedArm[],
  speeds: Record<string, number>,
  drift = 1,
  crashed: readonly string[] = [],
): ArmMeasurement[] {
  return arms.map((a) => {
    const baseline = a.role === "opening-baseline" || a.role === "closing-baseline";
    const speed = baseline ? 1 : (speeds[a.subject?.submissionId ?? ""] ?? 1);
    const crash = crashed.includes(a.subject?.submissionId ?? "");
    return {
      armId: a.armId,
      role: a.role,
      submissionId: a.subject?.submissionId ?? "",
      outcome: crash ? "crashed" : "measured",
      reason: crash ? "oom" : "",
      wallS: (a.role === "closing-baseline" ? 60 * drift : 60) / speed,
      wallCv: 0,
      repetitions: 3,
      requests: 10,
      failedRequests: 0,
      correctnessPassed: baseline ? undefined : true,
      correctnessReasons: [],
    };
  });
}

function job(over: Partial<RoundJob> & { slot: string }): RoundJob {
  return {
    id: `j-${over.slot}-a${over.attempt ?? 0}`,
    phase: "evaluate",
    attempt: 0,
    seed,
    state: "queued",
    podId: null,
    excludedPods: [],
    independentOf: [],
    arms: armsOf({ challengers: ["c1"] }),
    decision: null,
    score: null,
    ...over,
  };
}

/** A finished, decided job that measured `speeds` on `pod`. */
function measuredJob(
  over: Partial<RoundJob> & { slot: string; podId: string },
  speeds: Record<string, number>,
) {
  const base = job(over);
  const score = scoreJob(measurements(base.arms, speeds), defaultScoringPolicy) as JobScore;
  return { ...base, state: "done" as const, decision: score.decision, score };
}

function view(
  jobs: RoundJob[],
  over: Partial<RoundView["round"]> = {},
  extra: RoundSubmission[] = [],
): RoundView {
  const round = {
    id: "round-1",
    seed,
    state: "evaluating" as const,
    deadlineMs: 10_000,
    challengers: ["c1"],
    standingBefore: {} as Standing,
    ...over,
  };
  const submissions = new Map(
    [...round.challengers.map((id) => sub(id)), ...extra].map((s) => [s.id, s] as const),
  );
  return { round, jobs, submissions };
}

const identity = (podId: string, host = `host-${podId}`, gpus = [`GPU-${podId}`]): PodIdentity => ({
  podId,
  provider: "local",
  host,
  gpuUuids: gpus,
});
function pods(names: string[], identities: PodIdentity[] = names.map((n) => identity(n))): PodSnapshot {
  return { all: names, identities: Object.fromEntries(identities.map((i) => [i.podId, i])) };
}
const tick = (nowMs: number, snapshot: PodSnapshot, idle: Record<string, string[]>): RoundEvent => ({
  kind: "tick",
  nowMs,
  pods: snapshot,
  offers: Object.fromEntries(Object.entries(idle).map(([id, list]) => [id, { idle: list }])),
});
const kinds = (commands: RoundCommand[]) => commands.map((c) => c.kind);

describe("stepRound: placing jobs", () => {
  const cases: {
    name: string;
    jobs: RoundJob[];
    snapshot: PodSnapshot;
    idle: Record<string, string[]>;
    expected: RoundCommand[];
  }[] = [
    {
      name: "a queued job starts on an idle pod",
      jobs: [job({ slot: "e0" })],
      snapshot: pods(["a", "b"]),
      idle: { "j-e0-a0": ["a", "b"] },
      expected: [
        { kind: "start-job", jobId: "j-e0-a0", podId: "a" },
        { kind: "wait", running: 1, waitingForPods: 0 },
      ],
    },
    {
      name: "two jobs never take the same pod; the second waits",
      jobs: [job({ slot: "e0" }), job({ slot: "e1" })],
      snapshot: pods(["a"]),
      idle: { "j-e0-a0": ["a"], "j-e1-a0": ["a"] },
      expected: [
        { kind: "start-job", jobId: "j-e0-a0", podId: "a" },
        { kind: "wait", running: 1, waitingForPods: 1 },
      ],
    },
    {
      name: "an excluded pod is skipped",
      jobs: [job({ slot: "e0", excludedPods: ["a"] })],
      snapshot: pods(["a", "b"]),
      idle: { "j-e0-a0": ["a", "b"] },
      expected: [
        { kind: "start-job", jobId: "j-e0-a0", podId: "b" },
        { kind: "wait", running: 1, waitingForPods: 0 },
      ],
    },
    {
      name: "a job that must avoid the only pod is given up for this round",
      jobs: [job({ slot: "r0", phase: "reproduce", excludedPods: ["solo"] })],
      snapshot: pods(["solo"]),
      idle: { "j-r0-a0": ["solo"] },
      expected: [
        {
          kind: "abandon-job",
          jobId: "j-r0-a0",
          reason: "no pod other than solo is available; it is tried again next round",
        },
        { kind: "settle" },
      ],
    },
    {
      name: "a job free to run anywhere waits for pods to come",
      jobs: [job({ slot: "e0" })],
      snapshot: pods([]),
      idle: { "j-e0-a0": [] },
      expected: [{ kind: "wait", running: 0, waitingForPods: 1 }],
    },
    {
      name: "a running job is waited for",
      jobs: [job({ slot: "e0", state: "running", podId: "a" })],
      snapshot: pods(["a"]),
      idle: {},
      expected: [{ kind: "wait", running: 1, waitingForPods: 0 }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(stepRound(view(c.jobs), tick(0, c.snapshot, c.idle), config)).toEqual(c.expected);
    });
  }

  it("when the fleet says a pod can come (canPlace), a restricted job waits instead of being given up", () => {
    const v = view([job({ slot: "r0", phase: "reproduce", excludedPods: ["solo"] })]);
    const event: RoundEvent = {
      kind: "tick",
      nowMs: 0,
      pods: pods(["solo"]),
      offers: { "j-r0-a0": { idle: ["solo"], canPlace: true } },
    };
    expect(stepRound(v, event, config)).toEqual([{ kind: "wait", running: 0, waitingForPods: 1 }]);
  });
});

describe("stepRound: the deadline", () => {
  it("cancels running jobs, gives up queued ones and waits for the cancelled to end", () => {
    const v = view([job({ slot: "e0", state: "running", podId: "a" }), job({ slot: "e1" })], {
      deadlineMs: 100,
    });
    expect(stepRound(v, tick(100, pods(["a"]), { "j-e1-a0": ["a"] }), config)).toEqual([
      { kind: "cancel-running", reason: "the round's deadline passed" },
      {
        kind: "abandon-job",
        jobId: "j-e1-a0",
        reason: "the round's deadline passed before the job could run",
      },
      { kind: "wait", running: 1, waitingForPods: 0 },
    ]);
  });

  it("settles with what it has once nothing runs, planning nothing more", () => {
    // c1 beat the empty seat on pod a: before the deadline this plans a reproduction.
    const v = view([measuredJob({ slot: "e0", podId: "a" }, { c1: 1.5 })], { deadlineMs: 100 });
    expect(kinds(stepRound(v, tick(99, pods(["a", "b"]), {}), config))).toEqual([
      "plan-job",
      "enter-reproduction",
    ]);
    expect(stepRound(v, tick(100, pods(["a", "b"]), {}), config)).toEqual([{ kind: "settle" }]);
  });

  it("a job that fails after the deadline is given up, not retried", () => {
    const v = view([job({ slot: "e0", state: "running", podId: "a" })], { deadlineMs: 100 });
    const ended: RoundEvent = {
      kind: "job-ended",
      nowMs: 100,
      jobId: "j-e0-a0",
      podId: "a",
      pods: pods(["a", "b"]),
      outcome: { kind: "error", message: "cancelled: the round's deadline passed" },
    };
    expect(stepRound(v, ended, config)).toEqual([
      {
        kind: "finish-job",
        jobId: "j-e0-a0",
        state: "failed",
        reason: "pod a: cancelled: the round's deadline passed",
      },
      {
        kind: "abandon-job",
        jobId: "j-e0-a0",
        reason: "pod a: cancelled: the round's deadline passed; gave up after 1 failed attempt",
      },
    ]);
  });
});

describe("stepRound: a job ends", () => {
  const running = job({ slot: "e0", state: "running", podId: "a" });
  type JobEnded = Extract<RoundEvent, { kind: "job-ended" }>;
  const ended = (outcome: JobEnded["outcome"], all = ["a", "b"]): JobEnded => ({
    kind: "job-ended",
    nowMs: 0,
    jobId: running.id,
    podId: "a",
    pods: pods(all),
    outcome,
  });

  it("a decided measurement is recorded as done", () => {
    const commands = stepRound(
      view([running]),
      ended({ kind: "measured", measurements: measurements(running.arms, { c1: 1.2 }) }),
      config,
    );
    expect(commands).toMatchObject([{ kind: "record-score", jobId: running.id, state: "done", reason: "" }]);
    const score = (commands[0] as { score: JobScore }).score;
    expect(score.decision).toBe("decided");
    expect(score.arms[0]?.speed).toBeCloseTo(1.2);
  });

  it("a drifting pod's measurement is no decision and the job is retried on another pod", () => {
    const commands = stepRound(
      view([running]),
      ended({ kind: "measured", measurements: measurements(running.arms, { c1: 1.2 }, 1.2) }),
      config,
    );
    expect(commands).toMatchObject([
      { kind: "record-score", state: "failed", reason: expect.stringMatching(/bookends disagree/) },
      {
        kind: "plan-job",
        purpose: "retry",
        job: { slot: "e0", attempt: 1, seed, excludedPods: ["a"], arms: running.arms },
      },
    ]);
  });

  it("a pod failure is retried elsewhere, on the same pod when it is the only one", () => {
    expect(stepRound(view([running]), ended({ kind: "error", message: "ECC error" }), config)).toMatchObject([
      { kind: "finish-job", state: "failed", reason: "pod a: ECC error" },
      { kind: "plan-job", job: { attempt: 1, excludedPods: ["a"] } },
    ]);
    expect(stepRound(view([running]), ended({ kind: "error", message: "x" }, ["a"]), config)).toMatchObject([
      { kind: "finish-job" },
      { kind: "plan-job", job: { attempt: 1, excludedPods: [] } },
    ]);
  });

  it("gives up after maxAttempts failures", () => {
    const failed = (attempt: number) => job({ slot: "e0", attempt, state: "failed", podId: `p${attempt}` });
    const third = job({ slot: "e0", attempt: 2, state: "running", podId: "a" });
    const commands = stepRound(
      view([failed(0), failed(1), third]),
      { ...ended({ kind: "error", message: "gone" }), jobId: third.id },
      config,
    );
    expect(commands).toEqual([
      { kind: "finish-job", jobId: third.id, state: "failed", reason: "pod a: gone" },
      { kind: "abandon-job", jobId: third.id, reason: "pod a: gone; gave up after 3 failed attempts" },
    ]);
  });

  it("an event for a job that is not running changes nothing (a stale completion)", () => {
    const done = { ...running, state: "done" as const };
    expect(stepRound(view([done]), ended({ kind: "error", message: "late" }), config)).toEqual([]);
  });
});

describe("stepRound: resuming", () => {
  it("running jobs the runner no longer has were lost: rerun, not counted as failures", () => {
    const lost = job({ slot: "e0", state: "running", podId: "a", excludedPods: ["z"] });
    const alive = job({ slot: "e1", state: "running", podId: "b" });
    const failed = [0, 1, 2].map((attempt) => job({ slot: "e0", attempt, state: "failed" }));
    const commands = stepRound(
      view([...failed, { ...lost, attempt: 3, id: "j-e0-a3" }, alive]),
      { kind: "resumed", nowMs: 0, alive: [alive.id] },
      config,
    );
    // Three failures already: the lost attempt is still given up, having reached maxAttempts.
    expect(kinds(commands)).toEqual(["finish-job", "abandon-job"]);
    expect(stepRound(view([lost, alive]), { kind: "resumed", nowMs: 0, alive: [alive.id] }, config)).toEqual([
      {
        kind: "finish-job",
        jobId: lost.id,
        state: "lost",
        reason: "the controller stopped while the job ran; rerun",
      },
      {
        kind: "plan-job",
        purpose: "retry",
        job: {
          phase: "evaluate",
          slot: "e0",
          attempt: 1,
          seed,
          arms: lost.arms,
          excludedPods: ["z"],
          independentOf: [],
        },
      },
    ]);
  });
});

describe("stepRound: what follows the measurements", () => {
  it("a challenger that beat the empty seat is reproduced on another pod with a derived seed", () => {
    const v = view([measuredJob({ slot: "e0", podId: "a" }, { c1: 1.5 })]);
    expect(stepRound(v, tick(0, pods(["a", "b"]), {}), config)).toEqual([
      {
        kind: "plan-job",
        purpose: "reproduce",
        job: {
          phase: "reproduce",
          slot: "r0",
          attempt: 0,
          seed: derivedSeed(seed, "reproduce/r0"),
          arms: armsOf({ challengers: ["c1"] }),
          excludedPods: ["a"],
          independentOf: ["a"],
        },
      },
      { kind: "enter-reproduction" },
    ]);
  });

  it("a slower challenger settles at once; so does a reproduced one", () => {
    expect(
      stepRound(
        view([measuredJob({ slot: "e0", podId: "a" }, { c1: 0.9 })]),
        tick(0, pods(["a"]), {}),
        config,
      ),
    ).toEqual([{ kind: "settle" }]);
    const reproduced = view(
      [
        measuredJob({ slot: "e0", podId: "a" }, { c1: 1.5 }),
        measuredJob({ slot: "r0", phase: "reproduce", podId: "b", excludedPods: ["a"] }, { c1: 1.5 }),
      ],
      { state: "reproducing" },
    );
    expect(stepRound(reproduced, tick(0, pods(["a", "b"]), {}), config)).toEqual([{ kind: "settle" }]);
  });

  it("a reading inside the noise band is re-measured on other pods, at most maxRemeasurements times", () => {
    // The closing bookend 4.5% slower (inside the 5% limit) puts the bar near 2.2% (drift
    // residual); c1 at 1.7% over the interpolated baseline is past the 1% moat, inside the band.
    const drifty = (slot: string, podId: string, excludedPods: string[] = []) => {
      const base = job({ slot, podId, excludedPods });
      const score = scoreJob(measurements(base.arms, { c1: 0.995 }, 1.045), defaultScoringPolicy);
      return { ...base, state: "done" as const, decision: score.decision, score };
    };
    const first = view([drifty("e0", "a")]);
    expect(stepRound(first, tick(0, pods(["a", "b", "c"]), {}), config)).toEqual([
      {
        kind: "plan-job",
        purpose: "remeasure",
        job: {
          phase: "evaluate",
          slot: "m0",
          attempt: 0,
          seed: derivedSeed(seed, "remeasure/m0"),
          arms: armsOf({ challengers: ["c1"] }),
          excludedPods: ["a"],
          independentOf: ["a"],
        },
      },
    ]);
    const second = view([drifty("e0", "a"), drifty("m0", "b", ["a"])]);
    expect(stepRound(second, tick(0, pods(["a", "b", "c"]), {}), config)).toMatchObject([
      // Off every machine that measured it: the pooled readings come from independent pods.
      {
        kind: "plan-job",
        purpose: "remeasure",
        job: { slot: "m1", excludedPods: ["a", "b"], independentOf: ["a", "b"] },
      },
    ]);
    // A miner whose reading stays inside the band gains no third try.
    const limit = view([drifty("e0", "a"), drifty("m0", "b", ["a"]), drifty("m1", "c", ["b"])]);
    expect(stepRound(limit, tick(0, pods(["a", "b", "c"]), {}), config)).toEqual([{ kind: "settle" }]);
  });
});

describe("stepRound: independent reproduction", () => {
  const reproduce = job({ slot: "r0", phase: "reproduce", excludedPods: ["a"], independentOf: ["a"] });
  const v = view([measuredJob({ slot: "e0", podId: "a" }, { c1: 1.5 }), reproduce], { state: "reproducing" });

  it("is refused on a pod of the same host, the same GPUs, or an unknown machine", () => {
    const sameHost = pods(["a", "b"], [identity("a", "10.0.0.1"), identity("b", "10.0.0.1")]);
    const sameGpus = pods(
      ["a", "b"],
      [identity("a", "h1", ["GPU-1", "GPU-2"]), identity("b", "h2", ["GPU-2"])],
    );
    const unknown = pods(["a", "b"], [identity("a")]);
    for (const snapshot of [sameHost, sameGpus, unknown]) {
      expect(stepRound(v, tick(0, snapshot, { [reproduce.id]: ["b"] }), config)).toEqual([
        {
          kind: "abandon-job",
          jobId: reproduce.id,
          reason:
            "no pod other than a is available (another host and GPUs are required); it is tried again next round",
        },
        { kind: "settle" },
      ]);
    }
  });

  it("a result from a pod found to share the first pod's machine does not count; it is rerun elsewhere", () => {
    const ran = { ...reproduce, state: "running" as const, podId: "b" };
    const commands = stepRound(
      view([measuredJob({ slot: "e0", podId: "a" }, { c1: 1.5 }), ran], { state: "reproducing" }),
      {
        kind: "job-ended",
        nowMs: 0,
        jobId: ran.id,
        podId: "b",
        // b's hardware report came in after it started: the same GPUs as a.
        pods: pods(
          ["a", "b", "c"],
          [identity("a", "h1", ["GPU-1"]), identity("b", "h2", ["GPU-1"]), identity("c")],
        ),
        outcome: { kind: "measured", measurements: measurements(ran.arms, { c1: 1.5 }) },
      },
      config,
    );
    expect(commands).toMatchObject([
      { kind: "finish-job", state: "failed", reason: expect.stringMatching(/pod b is not independent of a/) },
      {
        kind: "plan-job",
        purpose: "retry",
        job: { attempt: 1, excludedPods: ["a", "b"], independentOf: ["a"] },
      },
    ]);
  });

  it("runs on another machine; with several providers, only on another provider", () => {
    expect(stepRound(v, tick(0, pods(["a", "b"]), { [reproduce.id]: ["b"] }), config)).toMatchObject([
      { kind: "start-job", podId: "b" },
      { kind: "wait" },
    ]);
    const sameProvider = pods(
      ["a", "b", "c"],
      [
        { ...identity("a"), provider: "p1" },
        { ...identity("b"), provider: "p1" },
        { ...identity("c"), provider: "p2" },
      ],
    );
    expect(
      stepRound(v, tick(0, sameProvider, { [reproduce.id]: ["b", "c"] }), { ...config, providers: 2 }),
    ).toMatchObject([{ kind: "start-job", podId: "c" }, { kind: "wait" }]);
  });
});

describe("stepRound: a seat holder that fails on a pod", () => {
  const L = { submissionId: "L", hotkey: "hk-L", commitBlock: 1, settledSpeed: 1.2 };
  const seats = [sub("L", "evaluated")];
  const arms = armsOf({ leader: "L", challengers: ["c1"] });
  const leaderFailed = (slot: string, podId: string) => {
    const base = job({ slot, podId, arms });
    const score = scoreJob(measurements(arms, { L: 1.2, c1: 1.1 }, 1, ["L"]), defaultScoringPolicy);
    return { ...base, state: "done" as const, decision: score.decision, score };
  };

  it("keeps the job: the challengers' measurements beside it stand, nothing is rerun", () => {
    const running = job({ slot: "e0", state: "running", podId: "a", arms });
    const commands = stepRound(
      view([running], { standingBefore: { leader: L } }, seats),
      {
        kind: "job-ended",
        nowMs: 0,
        jobId: running.id,
        podId: "a",
        pods: pods(["a", "b"]),
        outcome: { kind: "measured", measurements: measurements(arms, { L: 1.2, c1: 1.1 }, 1, ["L"]) },
      },
      config,
    );
    expect(commands).toMatchObject([{ kind: "record-score", state: "done", score: { decision: "decided" } }]);
  });

  it("is checked once on another pod before its seat is judged", () => {
    const v = view([leaderFailed("e0", "a")], { standingBefore: { leader: L } }, seats);
    const commands = stepRound(v, tick(0, pods(["a", "b"]), {}), config);
    expect(commands).toEqual([
      {
        kind: "plan-job",
        purpose: "seat-check",
        job: {
          phase: "evaluate",
          slot: "s0",
          attempt: 0,
          seed: derivedSeed(seed, "seat-check/s0"),
          arms: [
            { armId: "a0", role: "opening-baseline" },
            { armId: "a1", role: "leader", subject: subject("L") },
            { armId: "a2", role: "closing-baseline" },
          ],
          excludedPods: ["a"],
          independentOf: [],
        },
      },
    ]);
    // Checked (whatever the check found), or failed on two pods already: no further check.
    const check = job({ slot: "s0", state: "abandoned", arms: armsOf({ leader: "L", challengers: [] }) });
    for (const jobs of [
      [leaderFailed("e0", "a"), check],
      [leaderFailed("e0", "a"), leaderFailed("e1", "b")],
    ]) {
      const next = stepRound(
        view(jobs, { standingBefore: { leader: L } }, seats),
        tick(0, pods(["a", "b"]), {}),
        config,
      );
      expect(next.some((c) => c.kind === "plan-job" && c.purpose === "seat-check")).toBe(false);
    }
  });
});
