import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { RoundRow } from "../store/round-table.ts";
import { evaluationJob } from "./evaluation-job.ts";
import type { PlannedJob, RoundCommand, RoundEvent, RoundView } from "./round-engine.ts";
import { roundJobOf } from "./round-job.ts";
import type { RoundSubmission } from "./round-readings.ts";
import type { RoundSettings } from "./round-settings.ts";

/** The engine's view of a stored round: its row, every job attempt, its challengers and seat holders. */
export function loadRoundView(store: ControllerStore, roundId: string): RoundView {
  const round = store.rounds.get(roundId) as RoundRow;
  const standing = round.standingBefore as Standing;
  const submissions = new Map<string, RoundSubmission>();
  for (const id of [...round.challengers, standing.leader?.submissionId, standing.runnerUp?.submissionId]) {
    const sub = id ? store.submissions.get(id) : undefined;
    if (sub) submissions.set(sub.id, sub);
  }
  return {
    round: { ...round, standingBefore: standing },
    jobs: store.jobs.list(roundId).map(roundJobOf),
    submissions,
  };
}

/** Options of {@link writeRoundCommand}. */
export interface WriteRoundCommandOptions {
  store: ControllerStore;
  settings: RoundSettings;
  roundId: string;
  /** The event the command answers (a job-ended event's measurements become arm results). */
  event: RoundEvent;
  /** The ended job's JobResult in protobuf JSON form, stored with its score. */
  result?: JsonValue | undefined;
  nowMs: number;
}

/** Persists what a command changes in the store (call inside the event's transaction). */
export function writeRoundCommand(c: RoundCommand, options: WriteRoundCommandOptions): void {
  const { store, event } = options;
  switch (c.kind) {
    case "start-job":
      store.jobs.markRunning(c.jobId, c.podId);
      return;
    case "record-score":
      store.jobs.finish(c.jobId, {
        state: c.state,
        decision: c.score.decision,
        reason: c.reason,
        result: options.result,
        score: c.score,
      });
      if (event.kind !== "job-ended" || event.outcome.kind !== "measured") return;
      for (const arm of event.outcome.measurements) {
        const s = c.score.arms.find((a) => a.armId === arm.armId);
        store.armResults.put({
          jobId: c.jobId,
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
      return;
    case "finish-job":
      store.jobs.finish(c.jobId, { state: c.state, reason: c.reason });
      return;
    case "abandon-job":
      store.jobs.abandon(c.jobId, c.reason);
      return;
    case "plan-job":
      insertJobAttempt(
        store,
        options.settings,
        store.rounds.get(options.roundId) as RoundRow,
        c.job,
        options.nowMs,
      );
      return;
    case "enter-reproduction":
      store.rounds.setState(options.roundId, "reproducing");
      return;
    case "cancel-running":
    case "wait":
    case "settle":
      return;
  }
}

/**
 * Stores a planned job attempt with the EvaluationJob the agent will run; its id is
 * `<store id>-<round>-<slot>-a<attempt>`, unique across stores sharing a Docker engine.
 */
export function insertJobAttempt(
  store: ControllerStore,
  settings: RoundSettings,
  round: RoundRow,
  planned: PlannedJob,
  nowMs: number,
): void {
  const jobId = `${store.storeId()}-${round.id}-${planned.slot}-a${planned.attempt}`;
  const job = evaluationJob(settings, {
    jobId,
    roundId: round.id,
    seed: planned.seed,
    deadlineMs: Math.min(round.deadlineMs, nowMs + settings.jobTimeoutMs),
    arms: planned.arms,
  });
  store.jobs.insert({
    id: jobId,
    roundId: round.id,
    phase: planned.phase,
    slot: planned.slot,
    attempt: planned.attempt,
    seed: planned.seed,
    job: toJson(EvaluationJobSchema, job),
    excludedPods: planned.excludedPods,
    independentOf: planned.independentOf,
  });
}
