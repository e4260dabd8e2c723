import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type JobResult, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import { generatesPrompts, withJobPrompts } from "../../shared/workload/job-prompts.ts";
import { type CopyPolicy, defaultCopyPolicy } from "../copies/detect-copy.ts";
import type { PodDirectory, PodIdentity } from "../pods/pod-identity.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";
import { armMeasurements } from "./arm-measurements.ts";
import { detectRoundCopies } from "./detect-round-copies.ts";
import { type JobRunner, localPodDirectory } from "./job-runner.ts";
import { planEvaluation } from "./plan-jobs.ts";
import {
  type JobOutcome,
  latestAttempts,
  type PodSnapshot,
  type RoundCommand,
  type RoundEngineConfig,
  type RoundEvent,
  type RoundView,
  stepRound,
} from "./round-engine.ts";
import { roundPromptSecret } from "./round-prompts.ts";
import { sanitiseStanding, seatSubject, subjectOf } from "./round-readings.ts";
import { roundSeed } from "./round-seed.ts";
import type { RoundSettings } from "./round-settings.ts";
import { insertJobAttempt, loadRoundView, writeRoundCommand } from "./round-store.ts";
import { settleRound } from "./settle-round.ts";

/** A point in a round's life, reported to {@link RoundEngineOptions.onStep}. */
export interface RoundStep {
  kind:
    | "round-created"
    | "job-started"
    | "job-finished"
    | "remeasurement-planned"
    | "reproduction-planned"
    | "round-settled";
  roundId: string;
  jobId?: string | undefined;
  /** Planned jobs of the round that reached an end (done or given up), and all planned jobs. */
  jobsDone: number;
  jobsTotal: number;
}

/** Options of {@link runRound}. */
export interface RoundEngineOptions {
  store: ControllerStore;
  runner: JobRunner;
  settings: RoundSettings;
  policy: ScoringPolicy;
  /** @default defaultCopyPolicy */
  copyPolicy?: CopyPolicy;
  /**
   * Identities of pods (provider, host, GPU UUIDs) and the number of providers, for the rule
   * that a reproduction runs on another machine; a pod it does not know never takes such a job.
   * Remote mode passes the fleet's (hosts from the pod ledger, GPU UUIDs from the agents'
   * hardware reports); the runner must judge eligibility by the same directory and rule.
   * @default localPodDirectory(the runner's pods): every local pod its own machine
   */
  pods?: PodDirectory;
  /** The chain's finalized head; its hash seeds the round. */
  finalizedHead: () => Promise<{ block: number; hash: string }>;
  /** @default silentLogger */
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
  /** How long to wait before looking again when jobs wait for a free pod, ms. @default 1000 */
  pollMs?: number;
  /** Called after each step is committed to the store. */
  onStep?: (step: RoundStep) => void;
}

/** What a job-ended event records besides the engine's commands. */
interface EventRecord {
  /** The JobResult in protobuf JSON form, stored with the score. */
  result: JsonValue | undefined;
  /** Runs inside the event's transaction after the commands' writes. */
  after: () => void;
}

interface Completion {
  jobId: string;
  podId: string;
  result?: JobResult;
  error?: Error;
}

/**
 * Runs one round to the end, or resumes the one a stopped controller left open. The decisions
 * are the round engine's ({@link stepRound}); this driver loads the round's state from the store,
 * feeds the engine events (resumed, tick, job ended), carries out its commands (one store
 * transaction per event), runs jobs on the runner and settles. A kill at any point resumes here;
 * jobs that were running when the controller stopped are retried. Returns the settled round, or
 * undefined when nothing is pending.
 */
export async function runRound(
  options: RoundEngineOptions,
  signal: AbortSignal,
): Promise<RoundRow | undefined> {
  const { store, runner, settings, policy } = options;
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const copyPolicy = options.copyPolicy ?? defaultCopyPolicy;
  const pollMs = options.pollMs ?? 1000;
  const directory = options.pods ?? localPodDirectory(runner.allPods());
  const config: RoundEngineConfig = {
    policy,
    maxAttempts: settings.maxAttempts,
    providers: directory.providers,
    maxChallengersPerJob: settings.maxChallengersPerJob,
    blocks: settings.interleavedBlocks,
  };
  const step = (s: Omit<RoundStep, "jobsDone" | "jobsTotal">) => {
    if (!options.onStep) return;
    const latest = latestAttempts(store.jobs.list(s.roundId));
    const done = latest.filter((j) => j.state === "done" || j.state === "abandoned").length;
    options.onStep({ ...s, jobsDone: done, jobsTotal: latest.length });
  };

  const opened = store.rounds.open() ?? (await createRound());
  if (!opened) return undefined;
  const roundId = opened.id;
  const rlog = log.child({ round: roundId });
  const inFlight = new Map<string, { promise: Promise<Completion>; abort: AbortController }>();

  try {
    // A job left running by a stopped controller is alive when its pod kept it (an adopted
    // pod) or finished it meanwhile: it is awaited again instead of being rerun.
    const alive = store.jobs
      .list(roundId)
      .filter((j) => j.state === "running" && j.podId !== null && launch(j.id, j.podId, true))
      .map((j) => j.id);
    handle({ kind: "resumed", nowMs: now(), alive });
    while (true) {
      signal.throwIfAborted();
      const view = loadRoundView(store, roundId);
      const offers = Object.fromEntries(
        latestAttempts(view.jobs)
          .filter((j) => j.state === "queued")
          .map((j) => {
            // The runner filters by the job's exclusions, and a fleet rents for them when none fits.
            const exclusion = { pods: [...j.excludedPods], independentOf: [...j.independentOf] };
            return [j.id, { idle: runner.idlePods(exclusion), canPlace: runner.canPlace(exclusion) }];
          }),
      );
      const commands = handle({ kind: "tick", nowMs: now(), pods: podSnapshot(view), offers });
      if (commands.some((c) => c.kind === "settle")) return settle();
      const wait = commands.find((c) => c.kind === "wait");
      if (!wait) continue;
      const completion = await nextCompletion(wait.waitingForPods > 0);
      if (!completion) continue;
      inFlight.delete(completion.jobId);
      recordCompletion(completion);
    }
  } finally {
    for (const { abort } of inFlight.values())
      abort.abort(new CacheonError("cancelled", "the round engine stopped"));
    await Promise.allSettled([...inFlight.values()].map((f) => f.promise));
  }

  /**
   * Feeds one event to the engine and applies its commands in one transaction (with what else
   * the event records: `also`), then runs their effects.
   */
  function handle(event: RoundEvent, also?: EventRecord): RoundCommand[] {
    const commands = store.transaction(() => {
      const commands = stepRound(loadRoundView(store, roundId), event, config);
      for (const c of commands)
        writeRoundCommand(c, { store, settings, roundId, event, result: also?.result, nowMs: now() });
      also?.after();
      return commands;
    });
    for (const c of commands) effect(c);
    return commands;
  }

  function effect(c: RoundCommand): void {
    switch (c.kind) {
      case "start-job":
        launch(c.jobId, c.podId);
        return;
      case "cancel-running":
        for (const { abort } of inFlight.values())
          abort.abort(new CacheonError("deadline-exceeded", c.reason));
        return;
      case "plan-job":
        if (c.purpose !== "remeasure") return;
        rlog.info(
          policy.decision === "sequential"
            ? "another stage: the sequential test has not decided yet"
            : "re-measuring a reading inside the noise band",
          { slot: c.job.slot },
        );
        step({ kind: "remeasurement-planned", roundId });
        return;
      case "enter-reproduction":
        step({ kind: "reproduction-planned", roundId });
        return;
      default:
        return;
    }
  }

  /** The runner's pods, with the identities of those and of every pod the round's jobs name. */
  function podSnapshot(view: RoundView, alsoPod?: string): PodSnapshot {
    const named = view.jobs.flatMap((j) => [...j.independentOf, ...(j.podId ? [j.podId] : [])]);
    const ids = new Set([...runner.allPods(), ...named, ...(alsoPod ? [alsoPod] : [])]);
    const identities: Record<string, PodIdentity> = {};
    for (const id of ids) {
      const identity = directory.identity(id);
      if (identity) identities[id] = identity;
    }
    return { all: runner.allPods(), identities };
  }

  async function nextCompletion(pollForPods: boolean): Promise<Completion | undefined> {
    const round = store.rounds.get(roundId) as RoundRow;
    const tick = new AbortController();
    const timers: Promise<undefined>[] = [];
    const wake = (ms: number) =>
      timers.push(
        sleep(Math.max(1, ms), AbortSignal.any([signal, tick.signal])).then(
          () => undefined,
          () => undefined,
        ),
      );
    if (now() < round.deadlineMs) wake(round.deadlineMs - now());
    if (pollForPods || inFlight.size === 0) wake(Math.min(pollMs, Math.max(1, round.deadlineMs - now())));
    const done = await Promise.race([...[...inFlight.values()].map((f) => f.promise), ...timers]);
    tick.abort();
    return done;
  }

  async function createRound(): Promise<RoundRow | undefined> {
    if (store.submissions.list({ states: ["pending"] }).length === 0) return undefined;
    const head = await options.finalizedHead();
    const created = store.transaction(() => {
      const pending = store.submissions.list({ states: ["pending"] });
      if (pending.length === 0) return undefined;
      const submission = (id: string) => store.submissions.get(id);
      const standing = sanitiseStanding(store.standings.current<Standing>(), submission);
      const seed = roundSeed(head.hash, settings.validatorSecret);
      const r = store.rounds.insert({
        block: head.block,
        blockHash: head.hash,
        seed,
        state: "evaluating",
        deadlineMs: now() + settings.roundTimeoutMs,
        challengers: pending.map((p) => p.id),
        standingBefore: standing,
      });
      const slots = planEvaluation({
        challengers: pending.map(subjectOf),
        leader: seatSubject(standing.leader, submission),
        runnerUp: seatSubject(standing.runnerUp, submission),
        maxChallengersPerJob: settings.maxChallengersPerJob,
      });
      for (const slot of slots)
        insertJobAttempt(
          store,
          settings,
          r,
          { ...slot, phase: "evaluate", attempt: 0, seed, independentOf: [] },
          now(),
        );
      return r;
    });
    if (created) {
      log.info("round created", {
        round: created.id,
        block: created.block,
        challengers: created.challengers.length,
      });
      step({ kind: "round-created", roundId: created.id });
    }
    return created;
  }

  function settle(): RoundRow {
    const settled = settleRound({
      store,
      round: store.rounds.get(roundId) as RoundRow,
      policy,
      logger: rlog,
    });
    step({ kind: "round-settled", roundId });
    const after = (settled.standingAfter ?? {}) as Standing;
    rlog.info("round settled", {
      leader: after.leader?.submissionId,
      runnerUp: after.runnerUp?.submissionId,
    });
    return settled;
  }

  /**
   * The job as it is sent: generated prompts are made as it leaves, from the secret and the job's
   * seed; the store never holds them, so nothing readable before the round settles does.
   */
  async function withPrompts(evaluation: EvaluationJob, jobSignal: AbortSignal): Promise<EvaluationJob> {
    if (!generatesPrompts(evaluation)) return evaluation;
    return withJobPrompts(evaluation, roundPromptSecret(settings.validatorSecret), jobSignal);
  }

  /** Runs a job on a pod; with `resume`, re-attaches to one left running (false: nothing to resume). */
  function launch(jobId: string, podId: string, resume = false): boolean {
    const row = store.jobs.get(jobId);
    if (!row) return false;
    const evaluation = fromJson(EvaluationJobSchema, row.job as JsonValue);
    const abort = new AbortController();
    const running = resume
      ? runner.resume?.(podId, evaluation, abort.signal)
      : withPrompts(evaluation, abort.signal).then((ready) => runner.run(podId, ready, abort.signal));
    if (!running) return false;
    if (resume) rlog.info("job resumed after a restart", { job: jobId, pod: podId, attempt: row.attempt });
    else {
      step({ kind: "job-started", roundId, jobId });
      rlog.info("job started", { job: jobId, pod: podId, attempt: row.attempt });
    }
    const onAbort = () => abort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timeout = setTimeout(
      () =>
        abort.abort(
          new CacheonError(
            "deadline-exceeded",
            `job ${jobId} passed its ${settings.jobTimeoutMs} ms deadline`,
          ),
        ),
      // A resumed job keeps the deadline it started with.
      Math.max(0, (row.startedAt ?? now()) + settings.jobTimeoutMs - now()),
    );
    const promise = running
      .then(
        (result): Completion => ({ jobId, podId, result }),
        (error: unknown): Completion => ({ jobId, podId, error: CacheonError.from(error) }),
      )
      .finally(() => {
        clearTimeout(timeout);
        signal.removeEventListener("abort", onAbort);
      });
    inFlight.set(jobId, { promise, abort });
    return true;
  }

  function recordCompletion(c: Completion): void {
    if (signal.aborted) return; // the job is left "running" and is rerun on restart
    const row = store.jobs.get(c.jobId);
    if (!row) return;
    const evaluation = fromJson(EvaluationJobSchema, row.job as JsonValue);
    const outcome: JobOutcome = c.result
      ? { kind: "measured", measurements: armMeasurements(evaluation, c.result) }
      : { kind: "error", message: c.error?.message ?? "unknown failure" };
    const { result } = c;
    handle(
      {
        kind: "job-ended",
        nowMs: now(),
        jobId: c.jobId,
        podId: c.podId,
        pods: podSnapshot(loadRoundView(store, roundId), c.podId),
        outcome,
      },
      {
        result: result ? toJson(JobResultSchema, result) : undefined,
        after: () => {
          if (result) recordImageFacts(result, evaluation);
          detectRoundCopies({ store, round: store.rounds.get(roundId) as RoundRow, policy: copyPolicy });
        },
      },
    );
    step({ kind: "job-finished", roundId, jobId: c.jobId });
    rlog.info("job finished", { job: c.jobId, pod: c.podId, error: c.error?.message });
  }

  function recordImageFacts(result: JobResult, evaluation: EvaluationJob): void {
    for (const arm of result.arms) {
      const planned = evaluation.arms.find((a) => a.armId === arm.armId);
      if (!planned?.submissionId || !arm.image) continue;
      store.submissions.setImageFacts(planned.submissionId, {
        configDigest: arm.image.configDigest,
        layers: arm.image.layerDiffIds,
        sizeBytes: Number(arm.image.sizeBytes) || undefined,
      });
    }
  }
}
