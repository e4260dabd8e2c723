import type { PodComparison } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";

/** A paid seat: the leader or the runner-up. */
export interface Seat {
  submissionId: string;
  hotkey: string;
  /** Block of the commitment; the earlier commit wins ties. */
  commitBlock: number;
  /** Speed against the baseline that was paid: the lower of the measurement and its reproduction. */
  settledSpeed: number;
}

/** Who is paid now. */
export interface Standing {
  leader?: Seat | undefined;
  runnerUp?: Seat | undefined;
}

/** One decided measurement of a challenger within a job. */
export interface ChallengerReading {
  jobId: string;
  podId: string;
  gate: "pass" | "fail";
  reason: string;
  /** Speed against the baseline on that pod. */
  speed: number;
  /** Against the leader on the same pod; undefined when the job had no leader arm. */
  vsLeader?: PodComparison | undefined;
  /** Against the runner-up on the same pod; undefined when the job had no runner-up arm. */
  vsRunnerUp?: PodComparison | undefined;
  /** Against the baseline bookends. */
  vsBaseline: PodComparison;
  /** Decided measurements pooled into this reading (see poolReadings). @default 1 */
  measurements?: number | undefined;
}

/** What the round found out about one challenger. */
export interface ChallengerEvidence {
  submissionId: string;
  hotkey: string;
  commitBlock: number;
  /** The evaluation reading (pooled over its re-measurements, see poolReadings), when decided. */
  first?: ChallengerReading | undefined;
  /** The reproduction reading on other pods with other seeds (pooled likewise), when decided. */
  reproduction?: ChallengerReading | undefined;
  /**
   * Re-measurements that produced a decided reading because the reading landed inside the
   * noise band, per phase (`first` and `reproduction` then pool them all). While fewer than
   * `policy.maxRemeasurements`, a reading inside the band is no decision. @default 0 each
   */
  remeasurements?: { first: number; reproduction: number } | undefined;
}

/** Where a challenger stands after the first measurement. */
export type Promotion = "failed" | "no-result" | "candidate-leader" | "candidate-runner-up" | "below-bar";

/**
 * Whether a challenger's first reading makes it a candidate for a paid seat, which then must be
 * reproduced. Without a leader (or runner-up) the seat's bar is the baseline's (when the policy
 * says the leader must beat the baseline; otherwise a passing gate suffices).
 */
export function classifyReading(
  reading: ChallengerReading | undefined,
  standing: Standing,
  policy: ScoringPolicy,
): Promotion {
  if (!reading) return "no-result";
  if (reading.gate !== "pass") return "failed";
  if (beatsSeat(reading, "leader", standing, policy)) return "candidate-leader";
  // The sequential test keeps measuring while the leader's seat is still open to it, rather than
  // settling for the runner-up's (insideNoiseBand then asks for another stage).
  if (policy.decision === "sequential" && seatComparison(reading, "leader", standing, policy)?.insideNoise)
    return "below-bar";
  if (beatsSeat(reading, "runner-up", standing, policy)) return "candidate-runner-up";
  return "below-bar";
}

/**
 * Whether a reading that takes no seat landed inside the noise band of a seat it could take:
 * faster than the seat's holder (the baseline, for an empty seat when the policy says a seat
 * must beat it) by more than minMargin but not past the bar, so the pod could not tell. With
 * `seat`, only that seat is asked about (a reproduction answers for the seat its first reading
 * claimed; the noise simulation models the leader's seat only); otherwise a reading that takes
 * any seat is not inside the band. Pure.
 */
export function insideNoiseBand(
  reading: ChallengerReading | undefined,
  standing: Standing,
  policy: ScoringPolicy,
  seat?: "leader" | "runner-up",
): boolean {
  if (reading?.gate !== "pass") return false;
  if (policy.decision === "sequential" && !seat) {
    // The leader's seat first: open while its test goes on, whatever the runner-up's says.
    if (beatsSeat(reading, "leader", standing, policy)) return false;
    if (seatComparison(reading, "leader", standing, policy)?.insideNoise) return true;
    if (beatsSeat(reading, "runner-up", standing, policy)) return false;
    return seatComparison(reading, "runner-up", standing, policy)?.insideNoise === true;
  }
  const seats = seat ? [seat] : (["leader", "runner-up"] as const);
  if (seats.some((s) => beatsSeat(reading, s, standing, policy))) return false;
  return seats.some((s) => seatComparison(reading, s, standing, policy)?.insideNoise === true);
}

/**
 * The decision on a reading inside the noise band (for the sequential design: one whose test asks
 * for another stage): "remeasure" while fewer than {@link extraMeasurements} were planned for it in
 * this phase of the round, else "settle" (it counts as below the bar). A reading outside the band
 * always settles. Pure.
 */
export function remeasureDecision(
  reading: ChallengerReading | undefined,
  standing: Standing,
  policy: ScoringPolicy,
  remeasurements: number,
  seat?: "leader" | "runner-up",
): "remeasure" | "settle" {
  if (!insideNoiseBand(reading, standing, policy, seat)) return "settle";
  return remeasurements < extraMeasurements(policy) ? "remeasure" : "settle";
}

/**
 * Jobs a challenger may get in one phase of a round beyond its first: the sequential design's
 * stages after the first, or the fixed design's re-measurements.
 */
export function extraMeasurements(policy: ScoringPolicy): number {
  return policy.decision === "sequential" ? policy.sequentialStages - 1 : policy.maxRemeasurements;
}

/** The comparison that decides whether a reading takes `seat` (undefined: a passing gate suffices). */
function seatComparison(
  reading: ChallengerReading,
  seat: "leader" | "runner-up",
  standing: Standing,
  policy: ScoringPolicy,
): PodComparison | undefined {
  const holder = seat === "leader" ? standing.leader : standing.runnerUp;
  if (holder) return seat === "leader" ? reading.vsLeader : reading.vsRunnerUp;
  return policy.leaderMustBeatBaseline ? reading.vsBaseline : undefined;
}

function beatsSeat(
  reading: ChallengerReading,
  seat: "leader" | "runner-up",
  standing: Standing,
  policy: ScoringPolicy,
): boolean {
  if (reading.gate !== "pass") return false;
  const vsBaseline = policy.leaderMustBeatBaseline ? reading.vsBaseline.beats : true;
  if (seat === "leader") {
    if (!standing.leader) return vsBaseline;
    return reading.vsLeader?.beats === true;
  }
  if (standing.leader && reading.vsLeader?.beats === true) return true;
  if (!standing.runnerUp) return vsBaseline;
  return reading.vsRunnerUp?.beats === true;
}

/** Final word on a challenger for this round. */
export interface ChallengerVerdict {
  submissionId: string;
  hotkey: string;
  verdict:
    | "leader"
    | "runner-up"
    | "below-bar"
    | "not-reproduced"
    | "failed"
    | "no-result"
    | "awaiting-reproduction";
  /** Speed of the first measurement (0 when failed or none). */
  speed: number;
  /** min(first, reproduction) for reproduced challengers; else the first speed. */
  settledSpeed: number;
  /** Why, in a sentence a miner can act on. */
  reason: string;
}

/** The outcome of settling a round. */
export interface Settlement {
  standing: Standing;
  verdicts: ChallengerVerdict[];
}

/**
 * Settles a round: a challenger takes a seat only when it beat the seat's holder (on the same
 * pod, by more than the bar) in its first measurement and again in a reproduction on another pod
 * with another seed; its settled speed is the lower of the two. Among several such challengers
 * the faster settled speed wins; speeds within `minMargin` of each other tie, and ties go to
 * the earlier commit. A displaced leader becomes runner-up. Seat holders in `unseated` (failed
 * on two pods this round) lose their seat whatever happens: they are neither kept nor displaced
 * to runner-up. Pure.
 */
export function settleStanding(
  standing: Standing,
  evidence: readonly ChallengerEvidence[],
  policy: ScoringPolicy,
  unseated: ReadonlySet<string> = new Set(),
): Settlement {
  const verdicts: ChallengerVerdict[] = [];
  const leaderPool: Seat[] = [];
  const runnerUpPool: Seat[] = [];
  const verdictOf = new Map<string, ChallengerVerdict>();

  for (const e of evidence) {
    const firstClass = classifyReading(e.first, standing, policy);
    const speed = e.first?.gate === "pass" ? e.first.speed : 0;
    const base = { submissionId: e.submissionId, hotkey: e.hotkey, speed, settledSpeed: speed };
    let verdict: ChallengerVerdict;
    if (firstClass === "no-result") {
      verdict = {
        ...base,
        verdict: "no-result",
        reason: "no pod produced a decided measurement this round; it will be measured again",
      };
    } else if (firstClass === "failed") {
      verdict = { ...base, verdict: "failed", reason: e.first?.reason ?? "failed" };
    } else if (
      firstClass === "below-bar" &&
      remeasureDecision(e.first, standing, policy, e.remeasurements?.first ?? 0) === "remeasure"
    ) {
      verdict = {
        ...base,
        verdict: "no-result",
        reason: `${belowBarReason(e.first, standing)}: inside the noise band, and its re-measurement on another pod did not finish this round; it will be measured again`,
      };
    } else if (firstClass === "below-bar") {
      const again = e.remeasurements?.first ?? 0;
      verdict = {
        ...base,
        verdict: "below-bar",
        reason: `${belowBarReason(e.first, standing)}${again > 0 && insideNoiseBand(e.first, standing, policy) ? ` (still inside the noise band after ${again} re-measurement${again === 1 ? "" : "s"} on other pods)` : ""}`,
      };
    } else if (!e.reproduction) {
      verdict = {
        ...base,
        verdict: "awaiting-reproduction",
        reason: `beat the ${firstClass === "candidate-leader" ? "leader" : "runner-up"} on pod ${e.first?.podId}; no decided reproduction on another pod yet, so it is not paid yet`,
      };
    } else if (e.reproduction.gate !== "pass") {
      verdict = {
        ...base,
        verdict: "failed",
        speed,
        settledSpeed: 0,
        reason: `failed in reproduction: ${e.reproduction.reason}`,
      };
    } else {
      const settledSpeed = Math.min(speed, e.reproduction.speed);
      const seat: Seat = {
        submissionId: e.submissionId,
        hotkey: e.hotkey,
        commitBlock: e.commitBlock,
        settledSpeed,
      };
      const leaderBoth =
        firstClass === "candidate-leader" && beatsSeat(e.reproduction, "leader", standing, policy);
      const runnerBoth = beatsSeat(e.reproduction, "runner-up", standing, policy);
      if (leaderBoth) leaderPool.push(seat);
      else if (runnerBoth) runnerUpPool.push(seat);
      const claimed = firstClass === "candidate-leader" ? "leader" : "runner-up";
      const pendingAgain =
        !leaderBoth &&
        !runnerBoth &&
        remeasureDecision(e.reproduction, standing, policy, e.remeasurements?.reproduction ?? 0, claimed) ===
          "remeasure";
      verdict = pendingAgain
        ? {
            ...base,
            verdict: "awaiting-reproduction",
            reason: `beat the ${claimed} on pod ${e.first?.podId}; the reproduction on pod ${e.reproduction.podId} landed inside the noise band and its re-measurement did not finish this round, so it is not paid yet`,
          }
        : {
            ...base,
            settledSpeed,
            verdict: leaderBoth || runnerBoth ? "below-bar" : "not-reproduced",
            reason:
              leaderBoth || runnerBoth
                ? "reproduced, but another challenger settled faster"
                : `beat the seat on pod ${e.first?.podId} but not in the reproduction on pod ${e.reproduction.podId} (ratio ${fmt(e.reproduction.vsLeader?.ratio ?? e.reproduction.vsRunnerUp?.ratio ?? e.reproduction.vsBaseline.ratio)} against a bar of ${fmt(e.reproduction.vsLeader?.bar ?? e.reproduction.vsRunnerUp?.bar ?? e.reproduction.vsBaseline.bar)}); a win must hold on two pods`,
          };
    }
    verdicts.push(verdict);
    verdictOf.set(e.submissionId, verdict);
  }

  const rank = (seats: Seat[]) => [...seats].sort((a, b) => compareSeats(a, b, policy.minMargin));
  // Seat holders that lose their seat this round leave it empty; a lone runner-up moves up.
  const kept = (seat: Seat | undefined) => (seat && !unseated.has(seat.submissionId) ? seat : undefined);
  const seated: Standing = kept(standing.leader)
    ? { leader: standing.leader, runnerUp: kept(standing.runnerUp) }
    : { leader: kept(standing.runnerUp), runnerUp: undefined };
  const next: Standing = { ...seated };
  const leaders = rank(leaderPool);
  const newLeader = leaders[0];
  if (newLeader) {
    next.leader = newLeader;
    const pool = [...leaders.slice(1), ...runnerUpPool, ...(seated.leader ? [seated.leader] : [])];
    const best = rank(pool)[0];
    next.runnerUp = best ?? seated.runnerUp;
  } else {
    const best = rank(runnerUpPool)[0];
    if (best) next.runnerUp = best;
  }
  for (const [seat, name] of [
    [next.leader, "leader"],
    [next.runnerUp, "runner-up"],
  ] as const) {
    const v = seat ? verdictOf.get(seat.submissionId) : undefined;
    if (v) {
      v.verdict = name;
      v.reason =
        name === "leader"
          ? `leads at ${fmt(v.settledSpeed)}x the baseline (the lower of two pods); paid as leader`
          : `runner-up at ${fmt(v.settledSpeed)}x the baseline (the lower of two pods); paid as runner-up`;
    }
  }
  return { standing: next, verdicts };
}

/** Orders seats fastest first; speeds within `tieMargin` (relative) tie and the earlier commit wins. */
export function compareSeats(a: Seat, b: Seat, tieMargin: number): number {
  const hi = Math.max(a.settledSpeed, b.settledSpeed);
  const lo = Math.min(a.settledSpeed, b.settledSpeed);
  if (lo > 0 && hi / lo - 1 <= tieMargin) return a.commitBlock - b.commitBlock;
  if (a.settledSpeed !== b.settledSpeed) return b.settledSpeed - a.settledSpeed;
  return a.commitBlock - b.commitBlock;
}

function belowBarReason(reading: ChallengerReading | undefined, standing: Standing): string {
  if (!reading) return "";
  const c = standing.leader ? reading.vsLeader : reading.vsBaseline;
  const against = standing.leader ? "the leader" : "the baseline";
  if (!c) return `correct at ${fmt(reading.speed)}x the baseline`;
  return `correct at ${fmt(reading.speed)}x the baseline, ${fmt(c.ratio)}x ${against} on the same pod; the bar there was ${fmt(c.bar)}x (1 + max(margin, k x noise ${fmt(c.noise * 100)}%))`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : String(x);
}
