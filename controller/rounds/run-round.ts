import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type JobResult, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { formatImageReference, parseImageReference } from "../../shared/image/image-reference.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import { type CopyPolicy, defaultCopyPolicy, detectCopy } from "../copies/detect-copy.ts";
import { buildMinerReport, type ReportMeasurement } from "../publish/miner-report.ts";
import { type ArmScore, compareOnPod, type JobScore, scoreJob } from "../scoring/score-job.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import {
  type ChallengerEvidence,
  type ChallengerReading,
  classifyReading,
  compareSeats,
  type Seat,
  type Standing,
  settleStanding,
} from "../scoring/settle-standing.ts";
import type { ControllerStore, JobRow, RoundRow, SubmissionRow } from "../store/controller-store.ts";
import { armMeasurements, armRoleOf } from "./arm-measurements.ts";
import type { JobRunner } from "./job-runner.ts";
import { type ArmSubject, type PlannedSlot, planEvaluation, planReproduction } from "./plan-jobs.ts";
import { derivedSeed, roundSeed } from "./round-seed.ts";
import type { RoundSettings } from "./round-settings.ts";

/** A point in a round's life, reported to {@link RoundEngineOptions.onStep}. */
export interface RoundStep {
  kind: "round-created" | "job-started" | "job-finished" | "reproduction-planned" | "round-settled";
  roundId: string;
  jobId?: string | undefined;
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

// States a seat holder may be in; anything else (failed, copy, replaced, deregistered) loses the seat.
const liveStates = new Set(["pending", "evaluated"]);

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
  const step = (s: RoundStep) => options.onStep?.(s);

  let round = store.openRound() ?? (await createRound());
  if (!round) return undefined;
  const roundId = round.id;
  const rlog = log.child({ round: roundId });

  // Jobs marked running belong to a controller that stopped: their results are gone.
  for (const job of store.listJobs(roundId).filter((j) => j.state === "running")) {
    store.transaction(() =>
      failAttempt(job, "lost", "the controller stopped while the job ran; rerun", false),
    );
  }

  const inFlight = new Map<string, { promise: Promise<Completion>; abort: AbortController }>();
  try {
    while (true) {
      signal.throwIfAborted();
      round = store.getRound(roundId) as RoundRow;
      const expired = now() >= round.deadlineMs;
      const latest = latestAttempts(store.listJobs(roundId));
      if (expired) {
        for (const { abort } of inFlight.values())
          abort.abort(new CacheonError("deadline-exceeded", "round deadline passed"));
        store.transaction(() => {
          for (const job of latest.filter((j) => j.state === "queued")) {
            store.finishJob(job.id, {
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
                store.finishJob(job.id, {
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
    if (store.listSubmissions({ states: ["pending"] }).length === 0) return undefined;
    const head = await options.finalizedHead();
    const created = store.transaction(() => {
      const pending = store.listSubmissions({ states: ["pending"] });
      if (pending.length === 0) return undefined;
      const standing = sanitiseStanding(store.currentStanding<Standing>());
      const seed = roundSeed(head.hash, settings.validatorSecret);
      const r = store.insertRound({
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
        leader: seatSubject(standing.leader),
        runnerUp: seatSubject(standing.runnerUp),
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
    const jobId = `${r.id}-${slot.slot}-a${attempt}`;
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
    store.insertJob({
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

  function startJob(job: JobRow, podId: string): void {
    store.transaction(() => store.markJobRunning(job.id, podId));
    const started = store.getJob(job.id) as JobRow;
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
      const r = store.getRound(roundId) as RoundRow;
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
        store.insertArmResult({
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
        store.finishJob(c.job.id, { state: "done", decision: score.decision, reason: "", result, score });
      } else {
        store.finishJob(c.job.id, {
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
    store.finishJob(job.id, { state, reason });
    if (retry || state === "lost") retryOrAbandon(job, reason, true, podId);
    else retryOrAbandon(job, reason, false, podId);
  }

  function retryOrAbandon(job: JobRow, reason: string, allowed: boolean, podId?: string): void {
    const r = store.getRound(roundId) as RoundRow;
    // Attempts the controller lost by stopping are not the pods' failures and do not count; the
    // round's deadline still bounds them.
    const failures = store
      .listJobs(roundId)
      .filter((j) => j.slot === job.slot && j.state === "failed").length;
    if (!allowed || failures >= settings.maxAttempts) {
      store.finishJob(job.id, {
        state: "abandoned",
        decision: store.getJob(job.id)?.decision ?? null,
        reason: `${reason}; gave up after ${failures} failed attempt${failures === 1 ? "" : "s"}`,
        result: store.getJob(job.id)?.result ?? undefined,
        score: store.getJob(job.id)?.score ?? undefined,
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
      store.setImageFacts(planned.submissionId, {
        configDigest: arm.image.configDigest,
        layers: arm.image.layerDiffIds,
        sizeBytes: Number(arm.image.sizeBytes) || undefined,
      });
    }
  }

  function detectRoundCopies(r: RoundRow): void {
    const standing = r.standingBefore as Standing;
    const all = store.listSubmissions().filter((s) => s.digest !== null);
    const content = all.map(contentOf);
    for (const id of r.challengers) {
      const sub = store.getSubmission(id);
      if (!sub || sub.state !== "pending") continue;
      const copy = detectCopy({
        candidate: contentOf(sub),
        others: content,
        leaderId: standing.leader?.submissionId,
        policy: copyPolicy,
      });
      if (copy) store.setSubmissionState(sub.id, "copy", copy.reason, copy.originalId);
    }
  }

  function planReproductions(r: RoundRow): boolean {
    const planned = store.transaction(() => {
      const standing = r.standingBefore as Standing;
      const candidates = [];
      for (const id of r.challengers) {
        const sub = store.getSubmission(id);
        if (!sub || sub.state !== "pending") continue;
        const first = readingFor(id, "evaluate");
        const cls = classifyReading(first, standing, policy);
        if ((cls === "candidate-leader" || cls === "candidate-runner-up") && first) {
          candidates.push({ subject: subjectOf(sub), firstPod: first.podId });
        }
      }
      if (candidates.length === 0) return false;
      const slots = planReproduction({
        candidates,
        leader: seatSubject(standing.leader),
        runnerUp: seatSubject(standing.runnerUp),
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
      store.setRoundState(r.id, "reproducing");
      return true;
    });
    if (planned) step({ kind: "reproduction-planned", roundId: r.id });
    return planned;
  }

  function readingFor(submissionId: string, phase: JobRow["phase"]): ChallengerReading | undefined {
    const jobs = store
      .listJobs(roundId)
      .filter((j) => j.phase === phase && j.decision === "decided" && j.score !== null)
      .filter((j) =>
        (j.score as JobScore).arms.some((a) => a.submissionId === submissionId && a.role === "challenger"),
      );
    const job = jobs.at(-1);
    if (!job) return undefined;
    const score = job.score as JobScore;
    const arm = score.arms.find(
      (a) => a.submissionId === submissionId && a.role === "challenger",
    ) as ArmScore;
    const leader = score.arms.find((a) => a.role === "leader");
    const runnerUp = score.arms.find((a) => a.role === "runner-up");
    return {
      jobId: job.id,
      podId: job.podId ?? "",
      gate: arm.gate,
      reason: arm.reason,
      speed: arm.speed,
      vsLeader: leader ? compareOnPod(score, arm, leader, policy) : undefined,
      vsRunnerUp: runnerUp ? compareOnPod(score, arm, runnerUp, policy) : undefined,
      vsBaseline: compareOnPod(score, arm, undefined, policy),
    };
  }

  function settle(r: RoundRow): RoundRow {
    const settled = store.transaction(() => {
      const before = r.standingBefore as Standing;
      const evidence: ChallengerEvidence[] = [];
      const special: { sub: SubmissionRow; verdict: string; reason: string }[] = [];
      for (const id of r.challengers) {
        const sub = store.getSubmission(id);
        if (!sub) continue;
        if (sub.state === "copy") special.push({ sub, verdict: "copy", reason: sub.reason });
        else if (sub.state !== "pending") special.push({ sub, verdict: "withdrawn", reason: sub.reason });
        else
          evidence.push({
            submissionId: id,
            hotkey: sub.hotkey,
            commitBlock: sub.commitBlock,
            first: readingFor(id, "evaluate"),
            reproduction: readingFor(id, "reproduce"),
          });
      }
      const settlement = settleStanding(before, evidence, policy);
      // A seat holder that failed its gate on two or more pods this round (its image deleted,
      // broken, or wrong) loses the seat: otherwise every job would stay "no decision" forever.
      for (const seat of [before.leader, before.runnerUp]) {
        if (!seat) continue;
        const pods = seatFailures(seat.submissionId);
        if (pods.size < 2) continue;
        const reason = `the ${seat === before.leader ? "leader" : "runner-up"} failed its gate on ${pods.size} pods this round (${[...pods.values()].join("; ")}); it loses the seat`;
        const sub = store.getSubmission(seat.submissionId);
        if (sub) {
          store.setSubmissionState(sub.id, "failed", reason, sub.copyOf);
          store.insertVerdict({
            roundId: r.id,
            submissionId: sub.id,
            hotkey: sub.hotkey,
            verdict: "failed",
            speed: 0,
            settledSpeed: 0,
            reason,
            evidence: {},
          });
          report(r, sub, "failed", reason, 0, 0, undefined, []);
        }
        rlog.warn("seat holder failed on several pods; seat removed", {
          submission: seat.submissionId,
          pods: [...pods.keys()],
        });
      }
      const standing = sanitiseStanding(settlement.standing);
      const ranked = rankOf(standing, settlement.verdicts);
      for (const v of settlement.verdicts) {
        const sub = store.getSubmission(v.submissionId) as SubmissionRow;
        const first = readingFor(v.submissionId, "evaluate");
        const repro = readingFor(v.submissionId, "reproduce");
        store.insertVerdict({ roundId: r.id, ...v, evidence: { first, reproduction: repro } });
        const next =
          v.verdict === "failed"
            ? "failed"
            : v.verdict === "no-result" || v.verdict === "awaiting-reproduction"
              ? "pending"
              : "evaluated";
        store.setSubmissionState(sub.id, next, v.reason, sub.copyOf);
        report(r, sub, v.verdict, v.reason, v.speed, v.settledSpeed, ranked.get(v.submissionId), [
          first,
          repro,
        ]);
      }
      for (const s of special) {
        store.insertVerdict({
          roundId: r.id,
          submissionId: s.sub.id,
          hotkey: s.sub.hotkey,
          verdict: s.verdict,
          speed: 0,
          settledSpeed: 0,
          reason: s.reason,
          evidence: {},
        });
        report(r, s.sub, s.verdict, s.reason, 0, 0, undefined, [readingFor(s.sub.id, "evaluate")]);
      }
      store.insertStanding(r.id, standing);
      store.setRoundState(r.id, "settled", standing);
      return store.getRound(r.id) as RoundRow;
    });
    step({ kind: "round-settled", roundId: r.id });
    rlog.info("round settled", {
      leader: (settled.standingAfter as Standing).leader?.submissionId,
      runnerUp: (settled.standingAfter as Standing).runnerUp?.submissionId,
    });
    return settled;
  }

  /** Pods (with the reason) on which a seat holder's arm failed its gate in this round. */
  function seatFailures(submissionId: string): Map<string, string> {
    const pods = new Map<string, string>();
    for (const job of store.listJobs(roundId)) {
      const arm = (job.score as JobScore | null)?.arms.find(
        (a) => a.submissionId === submissionId && (a.role === "leader" || a.role === "runner-up"),
      );
      if (arm?.gate === "fail" && job.podId) pods.set(job.podId, `${job.podId}: ${arm.reason}`);
    }
    return pods;
  }

  function report(
    r: RoundRow,
    sub: SubmissionRow,
    verdict: string,
    reason: string,
    speed: number,
    settledSpeed: number,
    rank: number | undefined,
    readings: (ChallengerReading | undefined)[],
  ): void {
    const measurements: ReportMeasurement[] = readings
      .filter((x): x is ChallengerReading => x !== undefined)
      .map((x, i) => {
        const against = x.vsLeader
          ? { seat: "leader", c: x.vsLeader }
          : x.vsRunnerUp
            ? { seat: "runner-up", c: x.vsRunnerUp }
            : { seat: "baseline", c: x.vsBaseline };
        return {
          jobId: x.jobId,
          phase: i === 0 ? "evaluate" : "reproduce",
          podId: x.podId,
          gate: x.gate,
          speed: x.speed,
          against: { seat: against.seat, ratio: against.c.ratio, bar: against.c.bar, noise: against.c.noise },
          reason: x.reason,
        };
      });
    store.putMinerReport({
      roundId: r.id,
      hotkey: sub.hotkey,
      submissionId: sub.id,
      report: buildMinerReport({
        hotkey: sub.hotkey,
        submissionId: sub.id,
        image: sub.image,
        roundId: r.id,
        verdict,
        rank,
        speed,
        settledSpeed,
        reason,
        measurements,
        minMargin: policy.minMargin,
      }),
    });
  }

  /** Drops seats whose submission is no longer live (replaced, deregistered, copy); a lone runner-up moves up. */
  function sanitiseStanding(standing: Standing): Standing {
    const ok = (seat: Seat | undefined) => {
      const sub = seat ? store.getSubmission(seat.submissionId) : undefined;
      return seat && sub && liveStates.has(sub.state) ? seat : undefined;
    };
    const leader = ok(standing.leader);
    const runnerUp = ok(standing.runnerUp);
    return leader ? { leader, runnerUp } : { leader: runnerUp, runnerUp: undefined };
  }

  function seatSubject(seat: Seat | undefined): ArmSubject | undefined {
    const sub = seat ? store.getSubmission(seat.submissionId) : undefined;
    return sub ? subjectOf(sub) : undefined;
  }
}

function rankOf(
  standing: Standing,
  verdicts: { submissionId: string; settledSpeed: number; verdict: string }[],
): Map<string, number> {
  const ranks = new Map<string, number>();
  if (standing.leader) ranks.set(standing.leader.submissionId, 1);
  if (standing.runnerUp) ranks.set(standing.runnerUp.submissionId, 2);
  const rest = verdicts
    .filter(
      (v) =>
        !ranks.has(v.submissionId) &&
        v.settledSpeed > 0 &&
        (v.verdict === "below-bar" || v.verdict === "not-reproduced"),
    )
    .map((v) => ({ submissionId: v.submissionId, hotkey: "", commitBlock: 0, settledSpeed: v.settledSpeed }))
    .sort((a, b) => compareSeats(a, b, 0));
  let next = ranks.size + 1;
  for (const v of rest) ranks.set(v.submissionId, next++);
  return ranks;
}

function latestAttempts(jobs: JobRow[]): JobRow[] {
  const bySlot = new Map<string, JobRow>();
  for (const j of jobs) {
    const cur = bySlot.get(j.slot);
    if (!cur || j.attempt > cur.attempt) bySlot.set(j.slot, j);
  }
  return [...bySlot.values()];
}

function subjectOf(sub: SubmissionRow): ArmSubject {
  if (!sub.image) throw new CacheonError("internal", `submission ${sub.id} has no image and cannot be run`);
  return { submissionId: sub.id, hotkey: sub.hotkey, image: sub.image };
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
