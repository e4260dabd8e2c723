import { poolBlockReadings } from "./pool-blocks.ts";
import { type ArmScore, compareOnPod, type JobScore, type PodComparison } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";
import type { ChallengerReading } from "./settle-standing.ts";

/** Where a job ran. */
export interface JobPlace {
  jobId: string;
  podId: string;
}

/**
 * A challenger's reading in one scored job: its gate and speed, and its same-pod comparisons
 * with the seat holders that ran beside it and with the baseline. A seat holder that failed its
 * gate on the pod forfeits: the failure is its own (it counts toward it losing the seat), and
 * the challengers there are judged against that seat as if it were empty: against the runner-up
 * for a forfeited leader's seat when the runner-up passed there, else by the baseline's bar (or
 * by their own passing gate when the policy does not make a seat beat the baseline).
 * Undefined when the job did not run the challenger. Pure.
 */
export function readingOf(
  score: JobScore,
  place: JobPlace,
  submissionId: string,
  policy: ScoringPolicy,
): ChallengerReading | undefined {
  if (score.blocks) {
    // An interleaved job: each block is read against its own baselines, then the blocks pooled.
    const blocks = score.blocks.flatMap((b) => readingOf(b, place, submissionId, policy) ?? []);
    return poolBlockReadings(blocks, policy);
  }
  const arm = score.arms.find((a) => a.submissionId === submissionId && a.role === "challenger");
  if (!arm) return undefined;
  const vsBaseline = compareOnPod(score, arm, undefined, policy);
  const leader = score.arms.find((a) => a.role === "leader");
  const runnerUp = score.arms.find((a) => a.role === "runner-up");
  const against = (seat: ArmScore | undefined, next: ArmScore | undefined): PodComparison | undefined => {
    if (!seat) return undefined;
    if (seat.gate === "pass") return compareOnPod(score, arm, seat, policy);
    // The seat is empty on this pod: whoever holds the next seat and passed here stands in it.
    if (next?.gate === "pass") return { ...compareOnPod(score, arm, next, policy), forfeit: true };
    const passed = score.decision === "decided" && arm.gate === "pass";
    return policy.leaderMustBeatBaseline
      ? { ...vsBaseline, forfeit: true }
      : { ...vsBaseline, beats: passed, insideNoise: false, forfeit: true };
  };
  return {
    jobId: place.jobId,
    podId: place.podId,
    gate: arm.gate,
    reason: arm.reason,
    speed: arm.speed,
    vsLeader: against(leader, runnerUp),
    vsRunnerUp: against(runnerUp, undefined),
    vsBaseline,
  };
}
