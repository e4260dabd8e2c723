import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmRole, EvaluationJobSchema } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { type ArmScore, compareOnPod, type JobScore } from "../scoring/score-job.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import type { ChallengerReading, Seat, Standing } from "../scoring/settle-standing.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { JobRow } from "../store/job-table.ts";
import type { SubmissionRow } from "../store/submission-table.ts";
import type { ArmSubject } from "./plan-jobs.ts";

// States a seat holder may be in; anything else (failed, copy, replaced, deregistered) loses the seat.
const liveStates = new Set(["pending", "evaluated"]);

/** A challenger's decided measurement in a round's phase (the latest decided attempt), compared on its pod. */
export function readingFor(
  store: ControllerStore,
  roundId: string,
  submissionId: string,
  phase: JobRow["phase"],
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  const jobs = store.jobs
    .list(roundId)
    .filter((j) => j.phase === phase && j.decision === "decided" && j.score !== null)
    .filter((j) =>
      (j.score as JobScore).arms.some((a) => a.submissionId === submissionId && a.role === "challenger"),
    );
  const job = jobs.at(-1);
  if (!job) return undefined;
  const score = job.score as JobScore;
  const arm = score.arms.find((a) => a.submissionId === submissionId && a.role === "challenger") as ArmScore;
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

/** Slot prefix of re-measurement jobs per phase ("m0", "m1", ... and "rm0", ...). */
export const remeasureSlotPrefix = { evaluate: "m", reproduce: "rm" } as const satisfies Record<
  JobRow["phase"],
  string
>;

/**
 * Re-measurements of a challenger in a round's phase, read from the store so a restarted
 * controller counts the same. "planned" counts re-measurement slots whatever became of them
 * (the round plans no more than the limit); "decided" counts those that produced a decided
 * reading (what settlement holds against the limit: one given up for want of a pod or time
 * leaves the challenger undecided, not below the bar).
 */
export function remeasurementsOf(
  store: ControllerStore,
  roundId: string,
  submissionId: string,
  phase: JobRow["phase"],
  count: "planned" | "decided",
): number {
  const pattern = new RegExp(`^${remeasureSlotPrefix[phase]}\\d+$`);
  const slots = new Set<string>();
  for (const j of store.jobs.list(roundId)) {
    if (j.phase !== phase || !pattern.test(j.slot)) continue;
    if (count === "decided" ? j.decision !== "decided" : j.attempt !== 0) continue;
    const arms = fromJson(EvaluationJobSchema, j.job as JsonValue).arms;
    if (arms.some((a) => a.submissionId === submissionId && a.role === ArmRole.CHALLENGER)) slots.add(j.slot);
  }
  return slots.size;
}

/** Drops seats whose submission is no longer live (replaced, deregistered, copy); a lone runner-up moves up. */
export function sanitiseStanding(store: ControllerStore, standing: Standing): Standing {
  const ok = (seat: Seat | undefined) => {
    const sub = seat ? store.submissions.get(seat.submissionId) : undefined;
    return seat && sub && liveStates.has(sub.state) ? seat : undefined;
  };
  const leader = ok(standing.leader);
  const runnerUp = ok(standing.runnerUp);
  return leader ? { leader, runnerUp } : { leader: runnerUp, runnerUp: undefined };
}

/** The arm subject of a seat's submission, if it still exists. */
export function seatSubject(store: ControllerStore, seat: Seat | undefined): ArmSubject | undefined {
  const sub = seat ? store.submissions.get(seat.submissionId) : undefined;
  return sub ? subjectOf(sub) : undefined;
}

/** The arm subject of a submission; one without an image (malformed) cannot run. */
export function subjectOf(sub: SubmissionRow): ArmSubject {
  if (!sub.image) throw new CacheonError("internal", `submission ${sub.id} has no image and cannot be run`);
  return { submissionId: sub.id, hotkey: sub.hotkey, image: sub.image };
}
