import { seededRandom } from "../../shared/stats/seeded-random.ts";
import type { PodIdentity } from "../pods/pod-identity.ts";
import {
  type PodNoise,
  type PodSeconds,
  type PodTiming,
  type ServerBehaviour,
  simulatePodJob,
  type WarmupRule,
} from "../scoring/noise-simulation.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import { type Standing, settleStanding } from "../scoring/settle-standing.ts";
import { type ArmSubject, planEvaluation } from "./plan-jobs.ts";
import {
  latestAttempts,
  type PodSnapshot,
  type RoundCommand,
  type RoundEngineConfig,
  type RoundEvent,
  type RoundView,
  stepRound,
} from "./round-engine.ts";
import type { RoundJob } from "./round-job.ts";
import { challengerEvidence, type RoundSubmission } from "./round-readings.ts";

/** Options of {@link simulateRounds}. */
export interface RoundSimulationOptions {
  /** The scoring policy under test (its design: sequential stages or the fixed bar). */
  policy: ScoringPolicy;
  /** Rounds simulated. */
  rounds: number;
  /** The challenger under study, against a leader at `leaderSpeed`. */
  challenger: ServerBehaviour;
  /** The leader's speed against the baseline. @default 1.2 */
  leaderSpeed?: number;
  /** The runner-up's speed; null: no runner-up. @default leaderSpeed (a challenger as fast as one is as fast as both) */
  runnerUpSpeed?: number | null;
  /**
   * Other challengers in the round, each as fast as the leader (they share the jobs, and the
   * cost is split over all challengers). @default 0
   */
  companions?: number;
  /** Noise of the pods; each job draws its pod's CV uniformly from `cvRange`. */
  noise: PodNoise;
  /** Range of each job's repetition CV. @default [noise.repetitionCv, noise.repetitionCv] */
  cvRange?: readonly [number, number];
  timing: PodTiming;
  /** Timed repetitions per arm. */
  repetitions: number;
  warmup: WarmupRule;
  /** @default 4 */
  maxChallengersPerJob?: number;
  /** Interleaved blocks of a phase's later stages (RoundEngineConfig.blocks). @default 1 */
  blocks?: number;
  /** Pods available, each its own machine. @default 8 */
  pods?: number;
  /** @default 3 */
  maxAttempts?: number;
  /** @default 1 */
  seed?: number;
}

/** Counts and pod time of a simulation. */
export interface RoundSimulationResult {
  rounds: number;
  /** Rounds the challenger under study ended as leader. */
  takeovers: number;
  /** Rounds its evaluation phase claimed a seat (before reproduction). */
  firstWins: number;
  /** Rounds it ended without a decision (measured again next round). */
  undecided: number;
  /** Jobs run (all attempts) and of them the ones that were no decision. */
  jobs: number;
  noDecisionJobs: number;
  /** Pod-seconds of all jobs of all rounds, by use. */
  seconds: PodSeconds;
  /** Challengers measured per round (the one under study plus companions). */
  challengersPerRound: number;
}

const seed32 = "5eed".repeat(16);

/**
 * Runs whole rounds through the real round engine (stepRound: placement, retries, re-measurement
 * or sequential stages, reproduction on an independent pod) and the real settlement
 * (settleStanding on the same evidence settleRound builds), with simulated pods in place of the
 * agent (simulatePodJob: drift, process offsets, warm-up, outliers, the agent's time-to-token-k
 * figures). Counts take-overs and the pod time spent. Pure and deterministic for a seed.
 */
export function simulateRounds(options: RoundSimulationOptions): RoundSimulationResult {
  const random = seededRandom((options.seed ?? 1).toString(16).padStart(8, "0"), "round-simulation");
  const policy = options.policy;
  const config: RoundEngineConfig = {
    policy,
    maxAttempts: options.maxAttempts ?? 3,
    providers: 1,
    maxChallengersPerJob: options.maxChallengersPerJob ?? 4,
    blocks: options.blocks ?? 1,
  };
  const podNames = Array.from({ length: options.pods ?? 8 }, (_, i) => `pod-${i}`);
  const identities: Record<string, PodIdentity> = Object.fromEntries(
    podNames.map((p) => [p, { podId: p, provider: "sim", host: `host-${p}`, gpuUuids: [`GPU-${p}`] }]),
  );
  const snapshot: PodSnapshot = { all: podNames, identities };
  const leaderSpeed = options.leaderSpeed ?? 1.2;
  const companions = options.companions ?? 0;
  const cvRange = options.cvRange ?? [options.noise.repetitionCv, options.noise.repetitionCv];
  const submission = (id: string, commitBlock: number): RoundSubmission => ({
    id,
    hotkey: `hk-${id}`,
    state: "pending",
    image: `sim/${id}@sha256:${"0".repeat(64)}`,
    commitBlock,
  });
  const leader = submission("leader", 1);
  const runnerUpSpeed = options.runnerUpSpeed === undefined ? leaderSpeed : options.runnerUpSpeed;
  const runnerUp = runnerUpSpeed === null ? undefined : submission("runner-up", 2);
  const challengerIds = ["challenger", ...Array.from({ length: companions }, (_, i) => `companion-${i}`)];
  const servers = new Map<string, ServerBehaviour>([
    ["leader", { speed: leaderSpeed }],
    ["runner-up", { speed: runnerUpSpeed ?? 1 }],
    ["challenger", { ...options.challenger, speed: options.challenger.speed * leaderSpeed }],
    ...challengerIds.slice(1).map((id): [string, ServerBehaviour] => [id, { speed: leaderSpeed }]),
  ]);
  const standing: Standing = {
    leader: { submissionId: "leader", hotkey: leader.hotkey, commitBlock: 1, settledSpeed: leaderSpeed },
    runnerUp:
      runnerUp && runnerUpSpeed !== null
        ? { submissionId: runnerUp.id, hotkey: runnerUp.hotkey, commitBlock: 2, settledSpeed: runnerUpSpeed }
        : undefined,
  };
  const subjectOf = (s: RoundSubmission): ArmSubject => ({
    submissionId: s.id,
    hotkey: s.hotkey,
    image: s.image as string,
  });
  const result: RoundSimulationResult = {
    rounds: options.rounds,
    takeovers: 0,
    firstWins: 0,
    undecided: 0,
    jobs: 0,
    noDecisionJobs: 0,
    seconds: { load: 0, measuring: 0, other: 0 },
    challengersPerRound: challengerIds.length,
  };

  for (let r = 0; r < options.rounds; r++) {
    const submissions = new Map<string, RoundSubmission>([
      ["leader", leader],
      ...(runnerUp ? [["runner-up", runnerUp] as [string, RoundSubmission]] : []),
      ...challengerIds.map((id, i): [string, RoundSubmission] => [id, submission(id, 10 + i)]),
    ]);
    const view: { round: RoundView["round"]; jobs: RoundJob[]; submissions: typeof submissions } = {
      round: {
        id: `round-${r}`,
        seed: seed32,
        state: "evaluating",
        deadlineMs: Number.MAX_SAFE_INTEGER,
        challengers: challengerIds,
        standingBefore: standing,
      },
      jobs: [],
      submissions,
    };
    for (const slot of planEvaluation({
      challengers: challengerIds.map((id) => subjectOf(submissions.get(id) as RoundSubmission)),
      leader: subjectOf(leader),
      runnerUp: runnerUp ? subjectOf(runnerUp) : undefined,
      maxChallengersPerJob: options.maxChallengersPerJob ?? 4,
    })) {
      view.jobs.push(queued({ ...slot, phase: "evaluate", attempt: 0, seed: seed32, independentOf: [] }));
    }
    // Starts per machine: what a server could tell about earlier starts (see ServerBehaviour).
    const starts = new Map<string, Map<string, number>>();
    let now = 0;
    let settled = false;
    for (let guard = 0; guard < 1000 && !settled; guard++) {
      const busy = new Set(view.jobs.filter((j) => j.state === "running").map((j) => j.podId));
      const idle = podNames.filter((p) => !busy.has(p));
      const offers = Object.fromEntries(
        latestAttempts(view.jobs)
          .filter((j) => j.state === "queued")
          .map((j) => [j.id, { idle }]),
      );
      const commands = apply(view, { kind: "tick", nowMs: now++, pods: snapshot, offers }, config);
      if (commands.some((c) => c.kind === "settle")) settled = true;
      // Every started job runs at once on its simulated pod, in the order they started.
      for (const c of commands) {
        if (c.kind !== "start-job") continue;
        const job = view.jobs.find((j) => j.id === c.jobId) as RoundJob;
        const cv = cvRange[0] + (cvRange[1] - cvRange[0]) * random.next();
        const run = simulatePodJob({
          arms: job.arms.map((a) => ({
            armId: a.armId,
            role: a.role,
            submissionId: a.subject?.submissionId ?? "",
          })),
          servers,
          noise: scaledNoise(options.noise, cv),
          timing: options.timing,
          repetitions: options.repetitions,
          warmup: options.warmup,
          random,
          starts: starts.get(c.podId) ?? starts.set(c.podId, new Map()).get(c.podId) ?? new Map(),
        });
        result.jobs += 1;
        result.seconds.load += run.seconds.load;
        result.seconds.measuring += run.seconds.measuring;
        result.seconds.other += run.seconds.other;
        const ended = apply(
          view,
          {
            kind: "job-ended",
            nowMs: now++,
            jobId: c.jobId,
            podId: c.podId,
            pods: snapshot,
            outcome: { kind: "measured", measurements: run.measurements },
          },
          config,
        );
        if (ended.some((e) => e.kind === "record-score" && e.score.decision !== "decided"))
          result.noDecisionJobs += 1;
      }
    }
    const evidence = challengerIds.map((id) =>
      challengerEvidence(view.jobs, submissions.get(id) as RoundSubmission, policy),
    );
    const settlement = settleStanding(standing, evidence, policy);
    const verdict = settlement.verdicts.find((v) => v.submissionId === "challenger");
    if (settlement.standing.leader?.submissionId === "challenger") result.takeovers += 1;
    if (verdict?.verdict === "no-result" || verdict?.verdict === "awaiting-reproduction")
      result.undecided += 1;
    const first = evidence[0]?.first;
    if (first?.vsLeader?.beats === true) result.firstWins += 1;
  }
  return result;
}

function queued(planned: {
  phase: RoundJob["phase"];
  slot: string;
  attempt: number;
  seed: string;
  arms: RoundJob["arms"];
  excludedPods: string[];
  independentOf: string[];
}): RoundJob {
  return {
    id: `${planned.slot}-a${planned.attempt}`,
    phase: planned.phase,
    slot: planned.slot,
    attempt: planned.attempt,
    seed: planned.seed,
    state: "queued",
    podId: null,
    excludedPods: planned.excludedPods,
    independentOf: planned.independentOf,
    arms: planned.arms,
    decision: null,
    score: null,
  };
}

/** Feeds the engine one event and applies its commands to the in-memory view, as the driver does to the store. */
function apply(
  view: { round: RoundView["round"]; jobs: RoundJob[]; submissions: ReadonlyMap<string, RoundSubmission> },
  event: RoundEvent,
  config: RoundEngineConfig,
): RoundCommand[] {
  const commands = stepRound(view, event, config);
  const update = (id: string, change: Partial<RoundJob>) => {
    const i = view.jobs.findIndex((j) => j.id === id);
    if (i >= 0) view.jobs[i] = { ...(view.jobs[i] as RoundJob), ...change };
  };
  for (const c of commands) {
    switch (c.kind) {
      case "start-job":
        update(c.jobId, { state: "running", podId: c.podId });
        break;
      case "record-score":
        update(c.jobId, { state: c.state, decision: c.score.decision, score: c.score });
        break;
      case "finish-job":
        update(c.jobId, { state: c.state });
        break;
      case "abandon-job":
        update(c.jobId, { state: "abandoned" });
        break;
      case "plan-job":
        view.jobs.push(queued(c.job));
        break;
      case "enter-reproduction":
        view.round = { ...view.round, state: "reproducing" };
        break;
      default:
        break;
    }
  }
  return commands;
}

/** The pod's noise at another repetition CV, its request and process noise scaled alike. */
function scaledNoise(noise: PodNoise, cv: number): PodNoise {
  const scale = noise.repetitionCv > 0 ? cv / noise.repetitionCv : 0;
  return {
    ...noise,
    repetitionCv: cv,
    requestCv: noise.requestCv * scale,
    processCv: noise.processCv * scale,
  };
}
