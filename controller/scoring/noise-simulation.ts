import { type SeededRandom, seededRandom } from "../../shared/stats/seeded-random.ts";
import { coefficientOfVariation, median } from "../../shared/stats/summarise.ts";
import { poolReadings } from "./pool-readings.ts";
import { readingOf } from "./reading-of.ts";
import { type ArmMeasurement, type ArmRoleName, scoreJob } from "./score-job.ts";
import type { ScoringPolicy } from "./scoring-policy.ts";
import {
  type ChallengerReading,
  remeasureDecision,
  type Standing,
  settleStanding,
} from "./settle-standing.ts";

/** Options of {@link simulateTakeovers}. */
export interface NoiseSimulationOptions {
  /** The policy under test. */
  policy: ScoringPolicy;
  /** Challenger's true speed over the leader's: 1 = identical, 1.03 = truly 3% faster. */
  trueAdvantage: number;
  /** Rounds simulated. */
  rounds: number;
  /**
   * Per-repetition coefficient of variation of every arm's wall time; each pod draws its own
   * uniformly from this range (REFERENCE.md: 0.3% between stock vLLM runs, more on noisy pods).
   */
  armCv: readonly [number, number];
  /** Standard deviation of the pod's drift between the opening and closing baseline. */
  bookendNoise: number;
  /** Timed repetitions per arm (the arm's wall time is their median). @default 3 */
  repetitions?: number;
  /** Times a no-decision job is rerun before the round gives up on it. @default 2 */
  maxReruns?: number;
  /**
   * Re-measurements of a reading inside the noise band of the leader's seat (see
   * insideNoiseBand, the predicate the round runner uses too), each on a fresh pod draw, before
   * it counts as below the bar; reproductions are re-measured the same way. Every reading of a
   * phase is pooled with the earlier ones (poolReadings), as the round does. The controller does
   * this up to `policy.maxRemeasurements` times; 0 reads the band as a loss at once.
   * @default policy.maxRemeasurements
   */
  remeasureInsideNoise?: number;
  /**
   * "pool": every reading of a phase counts (the controller's rule). "replace": each
   * re-measurement replaces the reading before it, the earlier rule, kept as the reference the
   * benchmark compares with (optional stopping: a lucky reading is kept, an unlucky one
   * dropped). @default "pool"
   */
  remeasureMode?: "pool" | "replace";
  /** Seed of the generator. @default 1 */
  seed?: number;
}

/** Counts of a simulation. */
export interface NoiseSimulationResult {
  rounds: number;
  /** Rounds in which the challenger took the lead (first win and reproduction). */
  takeovers: number;
  /** Rounds in which the challenger won its first job (before reproduction). */
  firstWins: number;
  /** Jobs judged no decision (pod drift) and rerun. */
  noDecisionJobs: number;
  /** Rounds that ended without any decided first job. */
  undecidedRounds: number;
  /** Jobs run again because the reading landed inside the noise band. */
  remeasuredJobs: number;
}

const baselineWall = 100;

/**
 * Simulates rounds of one challenger against one leader through the real policy functions
 * (scoreJob, compareOnPod, settleStanding): each job runs opening baseline, leader, challenger,
 * closing baseline with per-repetition noise and pod drift, and a first win is reproduced on
 * an independent pod. Pure and deterministic for a seed.
 */
export function simulateTakeovers(options: NoiseSimulationOptions): NoiseSimulationResult {
  const random = normalSource(
    seededRandom((options.seed ?? 1).toString(16).padStart(8, "0"), "noise-simulation"),
  );
  const repetitions = options.repetitions ?? 3;
  const maxReruns = options.maxReruns ?? 2;
  const leaderWall = baselineWall / 1.2;
  const challengerWall = leaderWall / options.trueAdvantage;
  const standing: Standing = {
    leader: { submissionId: "leader", hotkey: "L", commitBlock: 1, settledSpeed: 1.2 },
  };
  const result: NoiseSimulationResult = {
    rounds: options.rounds,
    takeovers: 0,
    firstWins: 0,
    noDecisionJobs: 0,
    undecidedRounds: 0,
    remeasuredJobs: 0,
  };
  const remeasures = options.remeasureInsideNoise ?? options.policy.maxRemeasurements;

  const runJob = (podId: string): ChallengerReading | undefined => {
    for (let attempt = 0; attempt <= maxReruns; attempt += 1) {
      const cv = options.armCv[0] + (options.armCv[1] - options.armCv[0]) * random.uniform();
      const podFactor = 1 + 0.05 * random.normal();
      // The pod drifts linearly from the opening to the closing baseline; each arm runs at its
      // place in the job's order (opening, leader, challenger, closing), as on a real pod.
      const drift = options.bookendNoise * random.normal();
      const at = (place: number) => podFactor * (1 + (drift * place) / 3);
      const arms: ArmMeasurement[] = [
        arm(random, "b0", "opening-baseline", "", baselineWall * at(0), cv, repetitions),
        arm(random, "l", "leader", "leader", leaderWall * at(1), cv, repetitions),
        arm(random, "c", "challenger", "challenger", challengerWall * at(2), cv, repetitions),
        arm(random, "b1", "closing-baseline", "", baselineWall * at(3), cv, repetitions),
      ];
      const score = scoreJob(arms, options.policy);
      if (score.decision !== "decided") {
        result.noDecisionJobs += 1;
        continue;
      }
      const reading = readingOf(score, { jobId: podId, podId }, "challenger", options.policy);
      if (!reading) throw new Error("simulated job lacks its challenger");
      return reading;
    }
    return undefined;
  };
  // The policy's own decision, with the simulation's count of re-measurements as the limit.
  const policy = { ...options.policy, maxRemeasurements: remeasures };
  // Every decided reading of a phase is pooled (see poolReadings), as the round does; the
  // reference mode keeps only the latest.
  const measure = (podId: string): { reading: ChallengerReading | undefined; again: number } => {
    const readings: ChallengerReading[] = [];
    const first = runJob(podId);
    if (first) readings.push(first);
    let reading = poolReadings(readings, policy);
    let again = 0;
    while (remeasureDecision(reading, standing, policy, again, "leader") === "remeasure") {
      again += 1;
      result.remeasuredJobs += 1;
      const next = runJob(`${podId}-${again}`);
      if (options.remeasureMode === "replace") readings.length = 0;
      if (next) readings.push(next);
      reading = poolReadings(readings, policy);
    }
    return { reading, again };
  };

  for (let round = 0; round < options.rounds; round += 1) {
    const { reading: first, again } = measure("pod-a");
    if (!first) {
      result.undecidedRounds += 1;
      continue;
    }
    const firstWin = first.vsLeader?.beats === true;
    if (firstWin) result.firstWins += 1;
    const repro = firstWin ? measure("pod-b") : undefined;
    const settled = settleStanding(
      standing,
      [
        {
          submissionId: "challenger",
          hotkey: "C",
          commitBlock: 2,
          first,
          reproduction: repro?.reading,
          remeasurements: { first: again, reproduction: repro?.again ?? 0 },
        },
      ],
      policy,
    );
    if (settled.standing.leader?.submissionId === "challenger") result.takeovers += 1;
  }
  return result;
}

interface NormalSource {
  uniform(): number;
  normal(): number;
}

/** Adds standard normal variates (Box-Muller) to a uniform source. */
function normalSource(random: SeededRandom): NormalSource {
  return {
    uniform: () => random.next(),
    normal: () => {
      let u = 0;
      while (u === 0) u = random.next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
    },
  };
}

function arm(
  random: NormalSource,
  armId: string,
  role: ArmRoleName,
  submissionId: string,
  trueWall: number,
  cv: number,
  repetitions: number,
): ArmMeasurement {
  const walls = Array.from({ length: repetitions }, () => trueWall * (1 + cv * random.normal()));
  const wallCv = coefficientOfVariation(walls);
  const wallS = median(walls);
  return {
    armId,
    role,
    submissionId,
    outcome: "measured",
    reason: "",
    wallS,
    wallCv,
    repetitions,
    requests: 10,
    failedRequests: 0,
    correctnessPassed: role.endsWith("baseline") ? undefined : true,
    correctnessReasons: [],
  };
}
