import type { PodIdentity } from "../pods/pod-identity.ts";
import { type ArmMeasurement, type JobScore, scoreJob } from "../scoring/score-job.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import { classifyReading, remeasureDecision, type Standing } from "../scoring/settle-standing.ts";
import type { RoundState } from "../store/round-table.ts";
import { isIndependent } from "./is-independent.ts";
import { type PlannedArm, type PlannedSlot, planReproduction } from "./plan-jobs.ts";
import type { RoundJob } from "./round-job.ts";
import {
  type RoundSubmission,
  readingFor,
  readingsFor,
  remeasurementsOf,
  remeasureSlotPrefix,
  seatSubject,
  subjectOf,
} from "./round-readings.ts";
import { derivedSeed } from "./round-seed.ts";

/** Everything the engine decides on: one round and its jobs, as plain data. */
export interface RoundView {
  round: {
    id: string;
    seed: string;
    state: RoundState;
    deadlineMs: number;
    /** Submission ids measured in the round. */
    challengers: readonly string[];
    /** The standing the round measures against (seats already sanitised). */
    standingBefore: Standing;
  };
  /** Every attempt of the round's jobs, oldest first. */
  jobs: readonly RoundJob[];
  /** The challengers and the seat holders, by id. */
  submissions: ReadonlyMap<string, RoundSubmission>;
}

/** The engine's fixed inputs. */
export interface RoundEngineConfig {
  policy: ScoringPolicy;
  /** Attempts of one job (first run plus retries). */
  maxAttempts: number;
  /** Providers configured (more than one: a reproduction needs another provider too). */
  providers: number;
  /** Most challengers in one re-measurement, stage or reproduction job. @default unlimited */
  maxChallengersPerJob?: number | undefined;
  /**
   * Interleaved blocks of the sequential design's stages after the first (see armsFor); the fixed
   * design's re-measurements keep one block. The first job of each phase has one block: on a
   * steady pod it decides alone, at the lowest cost. @default 1
   */
  blocks?: number | undefined;
}

/** The pods as the runner knows them when an event happens. */
export interface PodSnapshot {
  /** Every pod known now, busy or not. */
  all: readonly string[];
  /** Identities of the pods known (and of those that measured this round), by pod id. */
  identities: Readonly<Record<string, PodIdentity>>;
}

/** What the runner offers a queued job. */
export interface PodOffer {
  /** Idle pods the job may take (the engine still checks exclusions and independence). */
  idle: readonly string[];
  /**
   * Whether a pod the job may use exists, is coming or can be rented (the fleet's answer);
   * undefined: the engine judges from the pods known.
   */
  canPlace?: boolean | undefined;
}

/** How a job attempt ended on its pod. */
export type JobOutcome =
  | { kind: "measured"; measurements: readonly ArmMeasurement[] }
  | { kind: "error"; message: string };

/** What happens to a round. */
export type RoundEvent =
  /** The driver (re)started on an open round; running jobs other than `alive` were lost. */
  | { kind: "resumed"; nowMs: number; alive: readonly string[] }
  /** Time passed or pods changed: place queued jobs, plan what comes next or settle. */
  | { kind: "tick"; nowMs: number; pods: PodSnapshot; offers: Readonly<Record<string, PodOffer>> }
  /** A running job ended on its pod. */
  | {
      kind: "job-ended";
      nowMs: number;
      jobId: string;
      podId: string;
      pods: PodSnapshot;
      outcome: JobOutcome;
    };

/** A job to add to the round. */
export interface PlannedJob {
  phase: RoundJob["phase"];
  slot: string;
  attempt: number;
  seed: string;
  arms: PlannedArm[];
  excludedPods: string[];
  independentOf: string[];
}

/** What the driver must do, in order. The store writes of one event's commands form one transaction. */
export type RoundCommand =
  | { kind: "start-job"; jobId: string; podId: string }
  /** The job was measured and scored: done when decided, else failed. */
  | { kind: "record-score"; jobId: string; state: "done" | "failed"; reason: string; score: JobScore }
  | { kind: "finish-job"; jobId: string; state: "failed" | "lost"; reason: string }
  /** Gives an attempt up, keeping what it recorded. */
  | { kind: "abandon-job"; jobId: string; reason: string }
  | { kind: "plan-job"; purpose: "retry" | "remeasure" | "reproduce" | "seat-check"; job: PlannedJob }
  | { kind: "enter-reproduction" }
  /** The deadline passed: stop the running jobs. */
  | { kind: "cancel-running"; reason: string }
  /** Nothing to decide until a running job ends, a pod frees up or the deadline passes. */
  | { kind: "wait"; running: number; waitingForPods: number }
  | { kind: "settle" };

/**
 * The round as a state machine: given the round's state and one event, the commands that follow.
 * Pure: no store, no runner, no clock but the event's. The driver (run-round.ts) loads the view,
 * feeds events, carries out the commands and persists them; a restart rebuilds the view from the
 * store and goes on.
 */
export function stepRound(view: RoundView, event: RoundEvent, config: RoundEngineConfig): RoundCommand[] {
  switch (event.kind) {
    case "resumed":
      return view.jobs
        .filter((j) => j.state === "running" && !event.alive.includes(j.id))
        .flatMap((j) =>
          endAttempt(view, j, "lost", "the controller stopped while the job ran; rerun", {
            retry: true,
            pods: [],
            config,
          }),
        );
    case "tick":
      return tick(view, event, config);
    case "job-ended":
      return jobEnded(view, event, config);
  }
}

function tick(
  view: RoundView,
  event: Extract<RoundEvent, { kind: "tick" }>,
  config: RoundEngineConfig,
): RoundCommand[] {
  const latest = latestAttempts(view.jobs);
  const running = latest.filter((j) => j.state === "running").length;
  const queued = latest.filter((j) => j.state === "queued");
  if (event.nowMs >= view.round.deadlineMs) {
    const commands: RoundCommand[] = [];
    if (running > 0) commands.push({ kind: "cancel-running", reason: "the round's deadline passed" });
    for (const job of queued) {
      commands.push({
        kind: "abandon-job",
        jobId: job.id,
        reason: "the round's deadline passed before the job could run",
      });
    }
    commands.push(running > 0 ? { kind: "wait", running, waitingForPods: 0 } : { kind: "settle" });
    return commands;
  }
  const commands: RoundCommand[] = [];
  const claimed = new Set<string>();
  let started = 0;
  let waitingForPods = 0;
  for (const job of queued) {
    const eligible = (pod: string) => mayRunOn(job, pod, event.pods, config);
    const offer = event.offers[job.id];
    const pod = offer?.idle.find((p) => !claimed.has(p) && eligible(p));
    if (pod) {
      claimed.add(pod);
      started += 1;
      commands.push({ kind: "start-job", jobId: job.id, podId: pod });
      continue;
    }
    const restricted = job.excludedPods.length > 0 || job.independentOf.length > 0;
    const placeable = offer?.canPlace ?? event.pods.all.some(eligible);
    // A job free to run anywhere waits for pods to come; one that must avoid pods is given up
    // when no pod it may use exists or can come (it is planned again next round).
    if (restricted && !placeable && event.pods.all.length > 0) {
      commands.push({
        kind: "abandon-job",
        jobId: job.id,
        reason: `no pod other than ${[...new Set([...job.excludedPods, ...job.independentOf])].join(", ")} is available${job.independentOf.length > 0 ? " (another host and GPUs are required)" : ""}; it is tried again next round`,
      });
    } else {
      waitingForPods += 1;
    }
  }
  if (running + started > 0 || waitingForPods > 0) {
    commands.push({ kind: "wait", running: running + started, waitingForPods });
    return commands;
  }
  // A seat holder that failed on one pod is tried on another before its seat is judged; readings
  // inside the noise band are measured again before anything is decided on them.
  const more = [...planSeatChecks(view), ...planRemeasurements(view, config)];
  if (more.length > 0) return [...commands, ...more];
  if (view.round.state === "evaluating") {
    const reproduce = planReproductions(view, config);
    if (reproduce.length > 0) return [...commands, ...reproduce, { kind: "enter-reproduction" }];
  }
  return [...commands, { kind: "settle" }];
}

function jobEnded(
  view: RoundView,
  event: Extract<RoundEvent, { kind: "job-ended" }>,
  config: RoundEngineConfig,
): RoundCommand[] {
  const job = view.jobs.find((j) => j.id === event.jobId);
  if (job?.state !== "running") return [];
  const retry = event.nowMs < view.round.deadlineMs;
  const ctx = { retry, podId: event.podId, pods: event.pods.all, config };
  if (event.outcome.kind === "error") {
    return endAttempt(view, job, "failed", `pod ${event.podId}: ${event.outcome.message}`, ctx);
  }
  // Placement already kept the job off those machines; what the pods turned out to be is
  // checked again (a hardware report may have come in since), and a result from the same
  // machine never counts.
  if (!mayRunOn(job, event.podId, event.pods, config)) {
    return endAttempt(
      view,
      job,
      "failed",
      `pod ${event.podId} is not independent of ${job.independentOf.join(", ")} (the same host, GPUs${config.providers > 1 ? " or provider" : ""}, or a machine not known): a reproduction must run on another machine; its result does not count`,
      { ...ctx, podId: event.podId },
    );
  }
  const score = scoreJob(event.outcome.measurements, config.policy);
  if (score.decision === "decided") {
    return [{ kind: "record-score", jobId: job.id, state: "done", reason: "", score }];
  }
  return [
    { kind: "record-score", jobId: job.id, state: "failed", reason: score.reason, score },
    ...retryOrAbandon(view, job, `${score.decision}: ${score.reason}`, "failed", ctx),
  ];
}

interface EndContext {
  /** Whether another attempt may follow (false once the deadline passed). */
  retry: boolean;
  podId?: string | undefined;
  pods: readonly string[];
  config: RoundEngineConfig;
}

function endAttempt(
  view: RoundView,
  job: RoundJob,
  state: "failed" | "lost",
  reason: string,
  ctx: EndContext,
): RoundCommand[] {
  return [
    { kind: "finish-job", jobId: job.id, state, reason },
    ...retryOrAbandon(view, job, reason, state, ctx),
  ];
}

/**
 * After an attempt failed (or was lost): another attempt of the same slot, avoiding the pod it
 * failed on when another exists, or the slot is given up after maxAttempts failures. Attempts
 * the controller lost by stopping are not the pods' failures and do not count; the round's
 * deadline still bounds them.
 */
function retryOrAbandon(
  view: RoundView,
  job: RoundJob,
  reason: string,
  ended: "failed" | "lost",
  ctx: EndContext,
): RoundCommand[] {
  const failures =
    view.jobs.filter((j) => j.slot === job.slot && j.id !== job.id && j.state === "failed").length +
    (ended === "failed" ? 1 : 0);
  if (!(ctx.retry || ended === "lost") || failures >= ctx.config.maxAttempts) {
    return [
      {
        kind: "abandon-job",
        jobId: job.id,
        reason: `${reason}; gave up after ${failures} failed attempt${failures === 1 ? "" : "s"}`,
      },
    ];
  }
  const others = ctx.pods.filter((p) => p !== ctx.podId && !job.excludedPods.includes(p));
  const excludedPods = ctx.podId && others.length > 0 ? [...job.excludedPods, ctx.podId] : job.excludedPods;
  return [
    {
      kind: "plan-job",
      purpose: "retry",
      job: {
        phase: job.phase,
        slot: job.slot,
        attempt: job.attempt + 1,
        seed: job.seed,
        arms: job.arms,
        excludedPods,
        independentOf: job.independentOf,
      },
    },
  ];
}

/** Whether a job may run on a pod: not excluded, and independent of the pods it must not share a machine with. */
function mayRunOn(job: RoundJob, pod: string, pods: PodSnapshot, config: RoundEngineConfig): boolean {
  if (job.excludedPods.includes(pod)) return false;
  if (job.independentOf.length === 0) return true;
  return isIndependent(
    pods.identities[pod],
    job.independentOf.map((p) => pods.identities[p]),
    { providers: config.providers },
  );
}

/**
 * A job on another pod, with a derived seed, for each challenger whose latest reading in the
 * round's current phase landed inside the noise band and is owed a re-measurement. The count
 * comes from the jobs, so a restart neither repeats nor skips one.
 */
function planRemeasurements(view: RoundView, config: RoundEngineConfig): RoundCommand[] {
  const { round, jobs } = view;
  const { policy } = config;
  const phase: RoundJob["phase"] = round.state === "evaluating" ? "evaluate" : "reproduce";
  const standing = round.standingBefore;
  const candidates = [];
  for (const sub of pendingChallengers(view)) {
    const latest = readingFor(jobs, sub.id, phase, policy);
    let seat: "leader" | "runner-up" | undefined;
    if (phase === "reproduce") {
      const cls = classifyReading(readingFor(jobs, sub.id, "evaluate", policy), standing, policy);
      if (cls !== "candidate-leader" && cls !== "candidate-runner-up") continue;
      seat = cls === "candidate-leader" ? "leader" : "runner-up";
    }
    const done = remeasurementsOf(jobs, sub.id, phase, "planned");
    if (latest && remeasureDecision(latest, standing, policy, done, seat) === "remeasure") {
      // Fixed design: pooled readings are worth more from machines that measured it not yet, and a
      // reproduction's re-measurement stays off the machines of the first measurement too.
      // Sequential design: the stages of a phase may share machines (the boundary holds its error
      // rates either way, and a fleet need not rent a machine per stage); a reproduction's stages
      // stay off every machine of the evaluation.
      const phases: RoundJob["phase"][] =
        policy.decision === "sequential"
          ? phase === "evaluate"
            ? []
            : ["evaluate"]
          : phase === "evaluate"
            ? ["evaluate"]
            : ["evaluate", "reproduce"];
      candidates.push({ subject: subjectOf(sub), avoidPods: measuringPods(jobs, sub.id, phases, policy) });
    }
  }
  if (candidates.length === 0) return [];
  const prefix = remeasureSlotPrefix[phase];
  const slotPattern = new RegExp(`^${prefix}\\d+$`);
  const used = new Set(jobs.filter((j) => slotPattern.test(j.slot)).map((j) => j.slot)).size;
  const slots = planReproduction({
    candidates,
    leader: seatSubject(standing.leader, lookup(view)),
    runnerUp: seatSubject(standing.runnerUp, lookup(view)),
    slotPrefix: prefix,
    firstSlot: used,
    maxChallengersPerJob: config.maxChallengersPerJob,
    // The fixed design runs as it always did: one block per job.
    blocks: policy.decision === "sequential" ? config.blocks : 1,
  });
  return slots.map((slot) =>
    plan("remeasure", phase, slot, derivedSeed(round.seed, `remeasure/${slot.slot}`)),
  );
}

/** Slot prefix of seat checks. */
const seatCheckPrefix = "s";

/**
 * A job on another pod for the seat holders that failed their gate on exactly one pod this round
 * and passed on none: the failure is theirs (the challengers beside them were judged as against
 * an empty seat), and a second failure takes the seat at settlement, so an image deleted or
 * broken does not keep its pay; a pod-specific fault does not cost it. Once per seat and round.
 */
function planSeatChecks(view: RoundView): RoundCommand[] {
  const { round, jobs } = view;
  const checked = (submissionId: string) =>
    jobs.some(
      (j) =>
        j.slot.startsWith(seatCheckPrefix) && j.arms.some((a) => a.subject?.submissionId === submissionId),
    );
  const arms: PlannedArm[] = [{ armId: "a0", role: "opening-baseline" }];
  const excludedPods = new Set<string>();
  for (const [seat, role] of [
    [round.standingBefore.leader, "leader"],
    [round.standingBefore.runnerUp, "runner-up"],
  ] as const) {
    if (!seat || checked(seat.submissionId)) continue;
    const failed = new Set<string>();
    let passed = false;
    for (const j of jobs) {
      const arm = j.score?.arms.find((a) => a.submissionId === seat.submissionId && a.role === role);
      if (arm?.gate === "pass") passed = true;
      else if (arm?.gate === "fail" && j.podId) failed.add(j.podId);
    }
    const subject = seatSubject(seat, lookup(view));
    if (passed || failed.size !== 1 || !subject) continue;
    arms.push({ armId: `a${arms.length}`, role, subject });
    for (const pod of failed) excludedPods.add(pod);
  }
  if (arms.length === 1) return [];
  arms.push({ armId: `a${arms.length}`, role: "closing-baseline" });
  const slot = `${seatCheckPrefix}${new Set(jobs.filter((j) => j.slot.startsWith(seatCheckPrefix)).map((j) => j.slot)).size}`;
  return [
    {
      kind: "plan-job",
      purpose: "seat-check",
      job: {
        phase: round.state === "evaluating" ? "evaluate" : "reproduce",
        slot,
        attempt: 0,
        seed: derivedSeed(round.seed, `seat-check/${slot}`),
        arms,
        excludedPods: [...excludedPods],
        independentOf: [],
      },
    },
  ];
}

/** A reproduction on another pod, with a derived seed, for every challenger whose first reading claims a seat. */
function planReproductions(view: RoundView, config: RoundEngineConfig): RoundCommand[] {
  const { round, jobs } = view;
  const standing = round.standingBefore;
  const candidates = [];
  for (const sub of pendingChallengers(view)) {
    const first = readingFor(jobs, sub.id, "evaluate", config.policy);
    const cls = classifyReading(first, standing, config.policy);
    if ((cls === "candidate-leader" || cls === "candidate-runner-up") && first) {
      candidates.push({
        subject: subjectOf(sub),
        avoidPods: measuringPods(jobs, sub.id, ["evaluate"], config.policy),
      });
    }
  }
  if (candidates.length === 0) return [];
  const slots = planReproduction({
    candidates,
    leader: seatSubject(standing.leader, lookup(view)),
    runnerUp: seatSubject(standing.runnerUp, lookup(view)),
    maxChallengersPerJob: config.maxChallengersPerJob,
  });
  return slots.map((slot) =>
    plan("reproduce", "reproduce", slot, derivedSeed(round.seed, `reproduce/${slot.slot}`)),
  );
}

function plan(
  purpose: "remeasure" | "reproduce",
  phase: RoundJob["phase"],
  slot: PlannedSlot,
  seed: string,
): RoundCommand {
  return {
    kind: "plan-job",
    purpose,
    job: {
      phase,
      slot: slot.slot,
      attempt: 0,
      seed,
      arms: slot.arms,
      excludedPods: slot.excludedPods,
      independentOf: slot.independentOf ?? [],
    },
  };
}

/** Pods whose decided jobs measured a challenger in the given phases. */
function measuringPods(
  jobs: readonly RoundJob[],
  submissionId: string,
  phases: readonly RoundJob["phase"][],
  policy: ScoringPolicy,
): string[] {
  return phases.flatMap((phase) => readingsFor(jobs, submissionId, phase, policy).map((r) => r.podId));
}

function pendingChallengers(view: RoundView): RoundSubmission[] {
  return view.round.challengers
    .map((id) => view.submissions.get(id))
    .filter((sub): sub is RoundSubmission => sub?.state === "pending");
}

function lookup(view: RoundView) {
  return (id: string) => view.submissions.get(id);
}

/** The latest attempt of every slot. */
export function latestAttempts<J extends { slot: string; attempt: number }>(jobs: readonly J[]): J[] {
  const bySlot = new Map<string, J>();
  for (const j of jobs) {
    const cur = bySlot.get(j.slot);
    if (!cur || j.attempt > cur.attempt) bySlot.set(j.slot, j);
  }
  return [...bySlot.values()];
}
