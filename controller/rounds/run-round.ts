import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type JobResult, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { formatImageReference, parseImageReference } from "../../shared/image/image-reference.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import { type CopyPolicy, defaultCopyPolicy, detectCopy } from "../copies/detect-copy.ts";
import { scoreJob } from "../scoring/score-job.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import { classifyReading, remeasureDecision, type Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { JobRow } from "../store/job-table.ts";
import type { RoundRow } from "../store/round-table.ts";
import type { SubmissionRow } from "../store/submission-table.ts";
import { armMeasurements, armRoleOf } from "./arm-measurements.ts";
import type { JobRunner } from "./job-runner.ts";
import { type PlannedSlot, planEvaluation, planReproduction } from "./plan-jobs.ts";
import {
  readingFor,
  remeasurementsOf,
  remeasureSlotPrefix,
  sanitiseStanding,
  seatSubject,
  subjectOf,
} from "./round-readings.ts";
import { derivedSeed, roundSeed } from "./round-seed.ts";
import type { RoundSettings } from "./round-settings.ts";
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

interface Completion {
  job: JobRow;
  podId: string;
  result?: JobResult;
  error?: Error;
}

/**
 * Runs one round to the end, or resumes the one a stopped controller left open: plans jobs
 * for the pending submissions, runs them on pods with bounded retries, scores them, reproduces
 * wins on other pods with other seeds, settles the standing and records verdicts and miner
 * reports. Every step is one store transaction, so a kill at any point resumes here; jobs that
 * were running when the controller stopped are retried. Returns the settled round, or undefined
 * when nothing is pending.
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
  const step = (s: Omit<RoundStep, "jobsDone" | "jobsTotal">) => {
    if (!options.onStep) return;
    const latest = latestAttempts(store.jobs.list(s.roundId));
    const done = latest.filter((j) => j.state === "done" || j.state === "abandoned").length;
    options.onStep({ ...s, jobsDone: done, jobsTotal: latest.length });
  };

  let round = store.rounds.open() ?? (await createRound());
  if (!round) return undefined;
  const roundId = round.id;
  const rlog = log.child({ round: roundId });

  // Jobs marked running belong to a controller that stopped: their results are gone.
  for (const job of store.jobs.list(roundId).filter((j) => j.state === "running")) {
    store.transaction(() =>
      failAttempt(job, "lost", "the controller stopped while the job ran; rerun", false),
    );
  }

  const inFlight = new Map<string, { promise: Promise<Completion>; abort: AbortController }>();
  try {
    while (true) {
      signal.throwIfAborted();
      round = store.rounds.get(roundId) as RoundRow;
      const expired = now() >= round.deadlineMs;
      const latest = latestAttempts(store.jobs.list(roundId));
      if (expired) {
        for (const { abort } of inFlight.values())
          abort.abort(new CacheonError("deadline-exceeded", "round deadline passed"));
        store.transaction(() => {
          for (const job of latest.filter((j) => j.state === "queued")) {
            store.jobs.finish(job.id, {
              state: "abandoned",
              reason: "the round's deadline passed before the job could run",
            });
          }
        });
      }
      let waiting = 0;
      if (!expired) {
        const claimed = new Set<string>();
        for (const job of latest.filter((j) => j.state === "queued" && !inFlight.has(j.id))) {
          const eligible = (pods: string[]) => pods.filter((p) => !job.excludedPods.includes(p));
          const pod = eligible(runner.idlePods()).find((p) => !claimed.has(p));
          if (!pod) {
            if (
              eligible(runner.allPods()).length === 0 &&
              runner.allPods().length > 0 &&
              job.excludedPods.length > 0
            ) {
              store.transaction(() =>
                store.jobs.finish(job.id, {
                  state: "abandoned",
                  reason: `no pod other than ${job.excludedPods.join(", ")} is available; it is tried again next round`,
                }),
              );
            } else {
              waiting += 1;
            }
            continue;
          }
          claimed.add(pod);
          startJob(job, pod);
        }
      }
      if (inFlight.size === 0) {
        if (waiting > 0) {
          await sleep(Math.min(pollMs, Math.max(1, round.deadlineMs - now())), signal);
          continue;
        }
        // Readings inside the noise band are measured again before anything is decided on them.
        if (!expired && planRemeasurements(round)) continue;
        if (round.state === "evaluating" && !expired && planReproductions(round)) continue;
        return settle(round);
      }
      const tick = new AbortController();
      const deadline = sleep(
        Math.max(1, round.deadlineMs - now()),
        AbortSignal.any([signal, tick.signal]),
      ).then(
        () => undefined,
        () => undefined,
      );
      const done = await Promise.race([...[...inFlight.values()].map((f) => f.promise), deadline]);
      tick.abort();
      if (!done) continue;
      inFlight.delete(done.job.id);
      recordCompletion(done);
    }
  } finally {
    for (const { abort } of inFlight.values())
      abort.abort(new CacheonError("cancelled", "the round engine stopped"));
    await Promise.allSettled([...inFlight.values()].map((f) => f.promise));
  }

  async function createRound(): Promise<RoundRow | undefined> {
    if (store.submissions.list({ states: ["pending"] }).length === 0) return undefined;
    const head = await options.finalizedHead();
    const created = store.transaction(() => {
      const pending = store.submissions.list({ states: ["pending"] });
      if (pending.length === 0) return undefined;
      const standing = sanitiseStanding(store, store.standings.current<Standing>());
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
        leader: seatSubject(store, standing.leader),
        runnerUp: seatSubject(store, standing.runnerUp),
        maxChallengersPerJob: settings.maxChallengersPerJob,
      });
      for (const slot of slots) insertAttempt(r, "evaluate", slot, 0, seed, slot.excludedPods);
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

  function insertAttempt(
    r: RoundRow,
    phase: JobRow["phase"],
    slot: PlannedSlot,
    attempt: number,
    seed: string,
    excluded: string[],
  ): void {
    const jobId = `${store.storeId()}-${r.id}-${slot.slot}-a${attempt}`;
    const job = create(EvaluationJobSchema, {
      jobId,
      roundId: r.id,
      roundSeed: seed,
      workload: fromJson(WorkloadSpecSchema, settings.workload),
      hardwareProfile: settings.hardwareProfile,
      modelDir: settings.modelDir,
      deadlineUnixMs: BigInt(Math.min(r.deadlineMs, now() + settings.jobTimeoutMs)),
      arms: slot.arms.map((a) => ({
        armId: a.armId,
        role: armRoleOf[a.role],
        image: parseImageReference(a.subject ? a.subject.image : settings.baselineImage),
        hotkey: a.subject?.hotkey ?? "",
        submissionId: a.subject?.submissionId ?? "",
        startupTimeoutS: a.subject ? settings.challengerStartupS : settings.baselineStartupS,
      })),
    });
    store.jobs.insert({
      id: jobId,
      roundId: r.id,
      phase,
      slot: slot.slot,
      attempt,
      seed,
      job: toJson(EvaluationJobSchema, job),
      excludedPods: excluded,
    });
  }

  function settle(r: RoundRow): RoundRow {
    const settled = settleRound({ store, round: r, policy, logger: rlog });
    step({ kind: "round-settled", roundId: r.id });
    const after = (settled.standingAfter ?? {}) as Standing;
    rlog.info("round settled", {
      leader: after.leader?.submissionId,
      runnerUp: after.runnerUp?.submissionId,
    });
    return settled;
  }

  function startJob(job: JobRow, podId: string): void {
    store.transaction(() => store.jobs.markRunning(job.id, podId));
    const started = store.jobs.get(job.id) as JobRow;
    step({ kind: "job-started", roundId, jobId: job.id });
    rlog.info("job started", { job: job.id, pod: podId, attempt: job.attempt });
    const abort = new AbortController();
    const onAbort = () => abort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timeout = setTimeout(
      () =>
        abort.abort(
          new CacheonError(
            "deadline-exceeded",
            `job ${job.id} passed its ${settings.jobTimeoutMs} ms deadline`,
          ),
        ),
      settings.jobTimeoutMs,
    );
    const evaluation = fromJson(EvaluationJobSchema, job.job as JsonValue);
    const promise = runner
      .run(podId, evaluation, abort.signal)
      .then(
        (result): Completion => ({ job: started, podId, result }),
        (error: unknown): Completion => ({ job: started, podId, error: CacheonError.from(error) }),
      )
      .finally(() => {
        clearTimeout(timeout);
        signal.removeEventListener("abort", onAbort);
      });
    inFlight.set(job.id, { promise, abort });
  }

  function recordCompletion(c: Completion): void {
    if (signal.aborted) return; // the job is left "running" and is rerun on restart
    store.transaction(() => {
      const r = store.rounds.get(roundId) as RoundRow;
      const expired = now() >= r.deadlineMs;
      if (!c.result) {
        failAttempt(
          c.job,
          "failed",
          `pod ${c.podId}: ${c.error?.message ?? "unknown failure"}`,
          !expired,
          c.podId,
        );
        return;
      }
      const evaluation = fromJson(EvaluationJobSchema, c.job.job as JsonValue);
      const measurements = armMeasurements(evaluation, c.result);
      const score = scoreJob(measurements, policy);
      recordImageFacts(c.result, evaluation);
      for (const arm of measurements) {
        const s = score.arms.find((a) => a.armId === arm.armId);
        store.armResults.put({
          jobId: c.job.id,
          armId: arm.armId,
          role: arm.role,
          submissionId: arm.submissionId,
          outcome: arm.outcome,
          gate: s?.gate ?? null,
          speed: s?.speed ?? null,
          wallS: arm.wallS,
          wallCv: arm.wallCv,
          reason: s?.reason ?? arm.reason,
        });
      }
      const result = toJson(JobResultSchema, c.result);
      if (score.decision === "decided") {
        store.jobs.finish(c.job.id, { state: "done", decision: score.decision, reason: "", result, score });
      } else {
        store.jobs.finish(c.job.id, {
          state: "failed",
          decision: score.decision,
          reason: score.reason,
          result,
          score,
        });
        retryOrAbandon(c.job, `${score.decision}: ${score.reason}`, !expired, c.podId);
      }
      detectRoundCopies(r);
    });
    step({ kind: "job-finished", roundId, jobId: c.job.id });
    rlog.info("job finished", { job: c.job.id, pod: c.podId, error: c.error?.message });
  }

  function failAttempt(
    job: JobRow,
    state: "failed" | "lost",
    reason: string,
    retry: boolean,
    podId?: string,
  ): void {
    store.jobs.finish(job.id, { state, reason });
    if (retry || state === "lost") retryOrAbandon(job, reason, true, podId);
    else retryOrAbandon(job, reason, false, podId);
  }

  function retryOrAbandon(job: JobRow, reason: string, allowed: boolean, podId?: string): void {
    const r = store.rounds.get(roundId) as RoundRow;
    // Attempts the controller lost by stopping are not the pods' failures and do not count; the
    // round's deadline still bounds them.
    const failures = store.jobs
      .list(roundId)
      .filter((j) => j.slot === job.slot && j.state === "failed").length;
    if (!allowed || failures >= settings.maxAttempts) {
      store.jobs.finish(job.id, {
        state: "abandoned",
        decision: store.jobs.get(job.id)?.decision ?? null,
        reason: `${reason}; gave up after ${failures} failed attempt${failures === 1 ? "" : "s"}`,
        result: store.jobs.get(job.id)?.result ?? undefined,
        score: store.jobs.get(job.id)?.score ?? undefined,
      });
      return;
    }
    // Retry elsewhere when another pod exists; a pod that drifted or failed is avoided.
    const others = runner.allPods().filter((p) => p !== podId && !job.excludedPods.includes(p));
    const excluded = podId && others.length > 0 ? [...job.excludedPods, podId] : job.excludedPods;
    const planned: PlannedSlot = { slot: job.slot, arms: [], excludedPods: excluded };
    const evaluation = fromJson(EvaluationJobSchema, job.job as JsonValue);
    planned.arms = evaluation.arms.map((a) => ({
      armId: a.armId,
      role: roleName(a.role),
      subject:
        a.submissionId && a.image
          ? { submissionId: a.submissionId, hotkey: a.hotkey, image: formatImageReference(a.image) }
          : undefined,
    }));
    insertAttempt(r, job.phase, planned, job.attempt + 1, job.seed, excluded);
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

  function detectRoundCopies(r: RoundRow): void {
    const standing = r.standingBefore as Standing;
    const all = store.submissions.list().filter((s) => s.digest !== null);
    const content = all.map(contentOf);
    for (const id of r.challengers) {
      const sub = store.submissions.get(id);
      if (sub?.state !== "pending") continue;
      const copy = detectCopy({
        candidate: contentOf(sub),
        others: content,
        leaderId: standing.leader?.submissionId,
        policy: copyPolicy,
      });
      if (copy) store.submissions.setState(sub.id, "copy", copy.reason, copy.originalId);
    }
  }

  /**
   * Plans a job on another pod, with a derived seed, for each challenger whose latest reading in
   * the round's current phase landed inside the noise band and is owed a re-measurement. In
   * one transaction; the count comes from the store, so a restart neither repeats nor skips one.
   */
  function planRemeasurements(r: RoundRow): boolean {
    const phase: JobRow["phase"] = r.state === "evaluating" ? "evaluate" : "reproduce";
    const planned = store.transaction(() => {
      const standing = r.standingBefore as Standing;
      const candidates = [];
      for (const sub of pendingChallengers(r)) {
        const id = sub.id;
        const latest = readingFor(store, roundId, id, phase, policy);
        let seat: "leader" | "runner-up" | undefined;
        if (phase === "reproduce") {
          const cls = classifyReading(readingFor(store, roundId, id, "evaluate", policy), standing, policy);
          if (cls !== "candidate-leader" && cls !== "candidate-runner-up") continue;
          seat = cls === "candidate-leader" ? "leader" : "runner-up";
        }
        const done = remeasurementsOf(store, roundId, id, phase, "planned");
        if (latest && remeasureDecision(latest, standing, policy, done, seat) === "remeasure") {
          candidates.push({ subject: subjectOf(sub), firstPod: latest.podId });
        }
      }
      if (candidates.length === 0) return false;
      const prefix = remeasureSlotPrefix[phase];
      const slotPattern = new RegExp(`^${prefix}\\d+$`);
      const used = new Set(
        store.jobs
          .list(roundId)
          .filter((j) => slotPattern.test(j.slot))
          .map((j) => j.slot),
      ).size;
      const slots = planReproduction({
        candidates,
        leader: seatSubject(store, standing.leader),
        runnerUp: seatSubject(store, standing.runnerUp),
        slotPrefix: prefix,
        firstSlot: used,
      });
      for (const slot of slots)
        insertAttempt(r, phase, slot, 0, derivedSeed(r.seed, `remeasure/${slot.slot}`), slot.excludedPods);
      rlog.info("re-measuring readings inside the noise band", {
        phase,
        challengers: candidates.map((c) => c.subject.submissionId),
      });
      return true;
    });
    if (planned) step({ kind: "remeasurement-planned", roundId: r.id });
    return planned;
  }

  function pendingChallengers(r: RoundRow): SubmissionRow[] {
    return r.challengers
      .map((id) => store.submissions.get(id))
      .filter((sub): sub is SubmissionRow => sub?.state === "pending");
  }

  function planReproductions(r: RoundRow): boolean {
    const planned = store.transaction(() => {
      const standing = r.standingBefore as Standing;
      const candidates = [];
      for (const sub of pendingChallengers(r)) {
        const first = readingFor(store, roundId, sub.id, "evaluate", policy);
        const cls = classifyReading(first, standing, policy);
        if ((cls === "candidate-leader" || cls === "candidate-runner-up") && first) {
          candidates.push({ subject: subjectOf(sub), firstPod: first.podId });
        }
      }
      if (candidates.length === 0) return false;
      const slots = planReproduction({
        candidates,
        leader: seatSubject(store, standing.leader),
        runnerUp: seatSubject(store, standing.runnerUp),
      });
      for (const slot of slots)
        insertAttempt(
          r,
          "reproduce",
          slot,
          0,
          derivedSeed(r.seed, `reproduce/${slot.slot}`),
          slot.excludedPods,
        );
      store.rounds.setState(r.id, "reproducing");
      return true;
    });
    if (planned) step({ kind: "reproduction-planned", roundId: r.id });
    return planned;
  }
}

function latestAttempts(jobs: JobRow[]): JobRow[] {
  const bySlot = new Map<string, JobRow>();
  for (const j of jobs) {
    const cur = bySlot.get(j.slot);
    if (!cur || j.attempt > cur.attempt) bySlot.set(j.slot, j);
  }
  return [...bySlot.values()];
}

function contentOf(s: SubmissionRow) {
  return {
    submissionId: s.id,
    hotkey: s.hotkey,
    commitBlock: s.commitBlock,
    sequence: s.sequence,
    image: {
      digest: s.digest as string,
      configDigest: s.configDigest ?? undefined,
      layers: s.layers ?? undefined,
      sizeBytes: s.sizeBytes ?? undefined,
    },
  };
}

function roleName(role: number) {
  const entry = Object.entries(armRoleOf).find(([, v]) => v === role);
  return (entry?.[0] ?? "challenger") as keyof typeof armRoleOf;
}
