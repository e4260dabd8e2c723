import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { poolReadings } from "../scoring/pool-readings.ts";
import { readingOf } from "../scoring/reading-of.ts";
import type { ScoringPolicy } from "../scoring/scoring-policy.ts";
import { sequentialReading } from "../scoring/sequential-reading.ts";
import type { ChallengerEvidence, ChallengerReading, Seat, Standing } from "../scoring/settle-standing.ts";
import type { SubmissionState } from "../store/submission-table.ts";
import type { ArmSubject } from "./plan-jobs.ts";
import type { RoundJob } from "./round-job.ts";

/** What the round needs of a submission (a SubmissionRow has it). */
export interface RoundSubmission {
  id: string;
  hotkey: string;
  state: SubmissionState;
  /** Canonical image reference; null when malformed (it never runs). */
  image: string | null;
  commitBlock: number;
}

// States a seat holder may be in; anything else (failed, copy, replaced, deregistered) loses the seat.
const liveStates = new Set<SubmissionState>(["pending", "evaluated"]);

/**
 * A challenger's decided readings in a round's phase, one per decided job that measured it,
 * oldest first. Pure.
 */
export function readingsFor(
  jobs: readonly RoundJob[],
  submissionId: string,
  phase: RoundJob["phase"],
  policy: ScoringPolicy,
): ChallengerReading[] {
  const readings: ChallengerReading[] = [];
  for (const j of jobs) {
    if (j.phase !== phase || j.decision !== "decided" || !j.score) continue;
    const r = readingOf(j.score, { jobId: j.id, podId: j.podId ?? "" }, submissionId, policy);
    if (r) readings.push(r);
  }
  return readings;
}

/**
 * A challenger's reading in a round's phase: all its decided measurements there, as stages of the
 * sequential test (sequentialReading) or pooled under the fixed design's bar (poolReadings);
 * undefined before any. Pure.
 */
export function readingFor(
  jobs: readonly RoundJob[],
  submissionId: string,
  phase: RoundJob["phase"],
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  const readings = readingsFor(jobs, submissionId, phase, policy);
  return policy.decision === "sequential"
    ? sequentialReading(readings, policy)
    : poolReadings(readings, policy);
}

/**
 * What a round found out about one pending challenger, from the round's jobs: its pooled reading
 * in each phase and the re-measurements that produced one (what settlement decides on). Pure.
 */
export function challengerEvidence(
  jobs: readonly RoundJob[],
  sub: Pick<RoundSubmission, "id" | "hotkey" | "commitBlock">,
  policy: ScoringPolicy,
): ChallengerEvidence {
  return {
    submissionId: sub.id,
    hotkey: sub.hotkey,
    commitBlock: sub.commitBlock,
    first: readingFor(jobs, sub.id, "evaluate", policy),
    reproduction: readingFor(jobs, sub.id, "reproduce", policy),
    remeasurements: {
      first: remeasurementsOf(jobs, sub.id, "evaluate", "decided"),
      reproduction: remeasurementsOf(jobs, sub.id, "reproduce", "decided"),
    },
  };
}

/** Slot prefix of re-measurement jobs per phase ("m0", "m1", ... and "rm0", ...). */
export const remeasureSlotPrefix = { evaluate: "m", reproduce: "rm" } as const satisfies Record<
  RoundJob["phase"],
  string
>;

/**
 * Re-measurements of a challenger in a round's phase, counted from the round's jobs so a
 * restarted controller counts the same. "planned" counts re-measurement slots whatever became of
 * them (the round plans no more than the limit); "decided" counts those that produced a decided
 * reading (what settlement holds against the limit: one given up for want of a pod or time
 * leaves the challenger undecided, not below the bar). Pure.
 */
export function remeasurementsOf(
  jobs: readonly RoundJob[],
  submissionId: string,
  phase: RoundJob["phase"],
  count: "planned" | "decided",
): number {
  const pattern = new RegExp(`^${remeasureSlotPrefix[phase]}\\d+$`);
  const slots = new Set<string>();
  for (const j of jobs) {
    if (j.phase !== phase || !pattern.test(j.slot)) continue;
    if (count === "decided" ? j.decision !== "decided" : j.attempt !== 0) continue;
    if (j.arms.some((a) => a.subject?.submissionId === submissionId && a.role === "challenger"))
      slots.add(j.slot);
  }
  return slots.size;
}

/**
 * Drops seats whose submission is no longer live (replaced, deregistered, copy); a lone
 * runner-up moves up. Pure.
 */
export function sanitiseStanding(
  standing: Standing,
  submission: (id: string) => RoundSubmission | undefined,
): Standing {
  const ok = (seat: Seat | undefined) => {
    const sub = seat ? submission(seat.submissionId) : undefined;
    return seat && sub && liveStates.has(sub.state) ? seat : undefined;
  };
  const leader = ok(standing.leader);
  const runnerUp = ok(standing.runnerUp);
  return leader ? { leader, runnerUp } : { leader: runnerUp, runnerUp: undefined };
}

/** The arm subject of a seat's submission, if it still exists. */
export function seatSubject(
  seat: Seat | undefined,
  submission: (id: string) => RoundSubmission | undefined,
): ArmSubject | undefined {
  const sub = seat ? submission(seat.submissionId) : undefined;
  return sub ? subjectOf(sub) : undefined;
}

/** The arm subject of a submission; one without an image (malformed) cannot run. */
export function subjectOf(sub: RoundSubmission): ArmSubject {
  if (!sub.image) throw new CacheonError("internal", `submission ${sub.id} has no image and cannot be run`);
  return { submissionId: sub.id, hotkey: sub.hotkey, image: sub.image };
}
