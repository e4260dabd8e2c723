import type { SeededRandom } from "../../shared/stats/seeded-random.ts";
import { coefficientOfVariation, median } from "../../shared/stats/summarise.ts";
import type { ArmMeasurement, ArmRoleName } from "./score-job.ts";

/**
 * What a real pod does to timings, as parameters (defaults and their sources in
 * {@link defaultPodNoise}). Every figure is relative: 0.02 = 2%.
 */
export interface PodNoise {
  /** Coefficient of variation of one timed repetition (common to its requests): the "CV" of a pod. */
  repetitionCv: number;
  /** Extra noise of each request's time to token k, independent between requests. */
  requestCv: number;
  /** Offset of each container start (process) from the image's true speed: its standard deviation. */
  processCv: number;
  /**
   * Drift of the pod's speed, a random walk: its standard deviation over 10 minutes. A job that
   * takes longer drifts more.
   */
  driftPer10Min: number;
  /** Chance per job of a step change of the pod's speed at a random time (a curve no straight line follows). */
  stepChance: number;
  /** Standard deviation of such a step. */
  stepSize: number;
  /** The first batch of requests after a server starts takes this many times as long. */
  firstRunFactor: number;
  /** The first-run excess shrinks by this factor with each batch served (0.1: 2.7x, 1.17x, 1.017x...). */
  warmDecay: number;
  /** Chance per repetition that it is an outlier (a pause, a neighbour), slower by `outlierSlowdown`. */
  outlierChance: number;
  /** Slowdown of an outlier repetition, drawn uniformly from this range. */
  outlierSlowdown: readonly [number, number];
  /** Chance per container start that the whole run is off by `legOutlier` (either way). */
  legOutlierChance: number;
  /** Size of such an off run. */
  legOutlier: number;
}

/**
 * Defaults, from REFERENCE.md: §3 (one H200: first timed run 2.7x later ones; later runs CV 6%
 * without CUDA graphs, per-process means 4%, i.e. process offsets about 2/3 of the run noise; a
 * CUDA-graph server such as vLLM far steadier) and §1 (the subnet's v2: 0.3% between stock runs,
 * a noise floor that drifted from 0.72% to 3.09% over a night, two honest legs 7.2% apart). The
 * CV and drift are set per scenario; the process offsets here are a quarter of the run noise
 * (vLLM's graphs make them smaller than §3's 2/3), the decay of the first-run excess and the
 * outlier rates are assumptions (no public figure), kept as parameters.
 */
export const defaultPodNoise: Readonly<PodNoise> = Object.freeze({
  repetitionCv: 0.01,
  requestCv: 0.005,
  processCv: 0.0025,
  driftPer10Min: 0.005,
  stepChance: 0.1,
  stepSize: 0.005,
  firstRunFactor: 2.7,
  warmDecay: 0.1,
  outlierChance: 0.01,
  outlierSlowdown: [0.1, 0.3] as const,
  legOutlierChance: 0.005,
  legOutlier: 0.072,
});

/** The noise of a pod of the given CV: the other figures scaled to it (see defaultPodNoise). */
export function podNoiseAt(
  repetitionCv: number,
  driftPer10Min: number,
  over: Partial<PodNoise> = {},
): PodNoise {
  return {
    ...defaultPodNoise,
    repetitionCv,
    requestCv: repetitionCv / 2,
    processCv: repetitionCv / 4,
    driftPer10Min,
    stepSize: driftPer10Min,
    ...over,
  };
}

/**
 * Where the pod's time goes, seconds, for a 72B model on 8 GPUs. Only the load time has a public
 * range (the brief's 30-120 s; REFERENCE.md §2 says a cold 72B vLLM start takes 3-10+ minutes,
 * so 120 s assumes weights in the page cache); the rest are derived as noted.
 */
export interface PodTiming {
  /** Container start to ready (the model load). @default 60 */
  loadS: number;
  /** GPU idle gate before each arm: 3 idle samples 2 s apart (REFERENCE.md §1, v2) plus cooling. @default 10 */
  idleGateS: number;
  /** Stopping the container and checking the GPUs are free (stop grace 10 s). @default 12 */
  teardownS: number;
  /** Per job: hardware verification with the bandwidth probe (23.9 s measured on 4x H200). @default 25 */
  jobOverheadS: number;
  /**
   * One timed repetition of the stock baseline: 14 requests (10 scored, 2 canaries, 2 probes) of
   * 6,144 prompt tokens and 512 output tokens at concurrency 8, two waves of about 1 s of
   * prefill and 512 x ~21 ms of decoding on 8 H200s (an estimate; no public figure). A server
   * twice as fast takes half. @default 24
   */
  baselineRepetitionS: number;
  /** A warm-up batch (the warm-up requests, one wave) as a share of a repetition. @default 0.5 */
  warmupBatchShare: number;
  /** Teacher forcing of one output by the closing baseline (6,656 tokens of prefill, batched). @default 0.17 */
  teacherForceS: number;
  /** Outputs per repetition that are teacher-forced. @default 14 */
  outputsPerRepetition: number;
}

/** See {@link PodTiming}'s fields. */
export const defaultPodTiming: Readonly<PodTiming> = Object.freeze({
  loadS: 60,
  idleGateS: 10,
  teardownS: 12,
  jobOverheadS: 25,
  baselineRepetitionS: 24,
  warmupBatchShare: 0.5,
  teacherForceS: 0.17,
  outputsPerRepetition: 14,
});

/**
 * How an image behaves on a pod. Honest servers run at `speed` (against the baseline); the
 * others are a miner's attempts to be paid for more than they are:
 * - "sometimes": each container start is `gain` faster with chance `chance`, else at `speed`;
 * - "early": `gain` faster for its first `earlyRequests` requests after it starts, then `speed`;
 * - "twice": at `speed` in its first container start on a machine, `gain` faster in every later one
 *   there (a server can tell a later start on the same machine, e.g. by its own files coming from
 *   the page cache; it cannot tell starts on other machines: its network is closed).
 */
export interface ServerBehaviour {
  speed: number;
  kind?: "honest" | "sometimes" | "early" | "twice";
  /** Relative speed-up when the trick is on (0.06 = 6% faster). @default 0 */
  gain?: number;
  /** For "sometimes". @default 0.5 */
  chance?: number;
  /** For "early". @default 30 */
  earlyRequests?: number;
}

/** How an arm warms up before its timed repetitions. */
export type WarmupRule =
  /** A fixed number of warm-up batches (today's: the 2 warm-up requests, one batch). */
  | { kind: "fixed"; batches: number }
  /**
   * Batches until two in a row agree within `tolerance` (output tokens per second), at least 2
   * and at most `maxBatches`.
   */
  | { kind: "until-stable"; tolerance: number; maxBatches: number };

/** Pod-seconds of a job by what they were spent on. */
export interface PodSeconds {
  load: number;
  measuring: number;
  /** Idle gates, warm-up, teardown, teacher forcing, hardware checks. */
  other: number;
}

/** One arm of a simulated job. */
export interface SimulatedArm {
  armId: string;
  role: ArmRoleName;
  /** "" for the baseline. */
  submissionId: string;
}

/** Options of {@link simulatePodJob}. */
export interface SimulatePodJobOptions {
  arms: readonly SimulatedArm[];
  /** Behaviour of each submission in the job; the baseline is speed 1. */
  servers: ReadonlyMap<string, ServerBehaviour>;
  noise: PodNoise;
  timing: PodTiming;
  /** Timed repetitions per arm. */
  repetitions: number;
  /** Scored requests per repetition (the ones timed to token k). @default 10 */
  requests?: number;
  warmup: WarmupRule;
  random: SeededRandom;
  /** Container starts of each submission earlier on this job's machine (for "twice"); updated in place. */
  starts: Map<string, number>;
}

/** What a simulated job produced. */
export interface SimulatedJob {
  /** As an agent reports them (times to token k against the bookends around each arm). */
  measurements: ArmMeasurement[];
  seconds: PodSeconds;
}

/**
 * Runs one job's arms, in order, on a simulated pod: each arm loads, passes the idle gate, warms
 * up by its rule, then times `repetitions` repetitions of `requests` requests whose times to token
 * k carry the pod's drift (a random walk with occasional steps, continuing across arms), the
 * process's offset, each repetition's noise and outliers, each request's noise, and what is left
 * of the first-run slowness; then the agent's figures are made from them exactly as the agent
 * makes them (times to token k of each arm against the baselines before and after it). Pure given
 * the random source.
 */
export function simulatePodJob(options: SimulatePodJobOptions): SimulatedJob {
  const { noise, timing, random, warmup } = options;
  const normal = normalOf(random);
  const requests = options.requests ?? 10;
  const seconds: PodSeconds = { load: 0, measuring: 0, other: timing.jobOverheadS };
  // Prompts differ in length; every arm of a job gets the same ones, so this cancels per request.
  const promptFactor = Array.from({ length: options.repetitions }, () =>
    Array.from({ length: requests }, () => Math.exp(0.15 * normal())),
  );
  let clock = timing.jobOverheadS;
  let drift = 0;
  const jobSpan = estimateJobSeconds(options);
  const step =
    random.next() < noise.stepChance
      ? { at: random.next() * jobSpan, size: noise.stepSize * normal() }
      : undefined;
  const driftRate = noise.driftPer10Min / Math.sqrt(600);
  const advance = (s: number) => {
    drift += driftRate * Math.sqrt(Math.max(0, s)) * normal();
    if (step && clock < step.at && clock + s >= step.at) drift += step.size;
    clock += s;
  };
  const times = new Map<string, number[][]>();
  const walls = new Map<string, number[]>();
  for (const arm of options.arms) {
    const behaviour = arm.submissionId ? options.servers.get(arm.submissionId) : undefined;
    const starts = options.starts.get(arm.submissionId) ?? 0;
    if (arm.submissionId) options.starts.set(arm.submissionId, starts + 1);
    let speed = behaviour?.speed ?? 1;
    const gain = 1 + (behaviour?.gain ?? 0);
    if (behaviour?.kind === "sometimes" && random.next() < (behaviour.chance ?? 0.5)) speed *= gain;
    if (behaviour?.kind === "twice" && starts > 0) speed *= gain;
    const early = behaviour?.kind === "early" ? (behaviour.earlyRequests ?? 30) : 0;
    let process = noise.processCv * normal();
    if (random.next() < noise.legOutlierChance) process += (random.next() < 0.5 ? -1 : 1) * noise.legOutlier;
    const repetitionS = timing.baselineRepetitionS / speed;
    advance(timing.idleGateS);
    seconds.other += timing.idleGateS;
    advance(timing.loadS);
    seconds.load += timing.loadS;
    // Warm-up: batches of the warm-up requests (2); the excess of the first run decays per batch.
    let served = 0;
    let batches = 0;
    let last = Number.NaN;
    const slowness = () => 1 + (noise.firstRunFactor - 1) * noise.warmDecay ** batches;
    const trick = () => (served < early ? gain : 1);
    while (true) {
      const noisy = Math.exp(drift + process + noise.repetitionCv * normal());
      const batchS = (repetitionS * timing.warmupBatchShare * slowness() * noisy) / trick();
      advance(batchS);
      seconds.other += batchS;
      served += 2;
      batches += 1;
      if (warmup.kind === "fixed" ? batches >= warmup.batches : batches >= warmup.maxBatches) break;
      // Stable: this batch's throughput within the tolerance of the one before.
      if (warmup.kind === "until-stable" && batches >= 2 && Math.abs(last / batchS - 1) <= warmup.tolerance)
        break;
      last = batchS;
    }
    const perRepetition: number[][] = [];
    const repWalls: number[] = [];
    for (let r = 0; r < options.repetitions; r++) {
      const outlier =
        random.next() < noise.outlierChance ? 1 + lerp(noise.outlierSlowdown, random.next()) : 1;
      const common = Math.exp(drift + process + noise.repetitionCv * normal()) * slowness() * outlier;
      const row: number[] = [];
      for (let i = 0; i < requests; i++) {
        const ms =
          (((repetitionS * 1000) / requests) *
            (promptFactor[r]?.[i] ?? 1) *
            common *
            Math.exp(noise.requestCv * normal())) /
          trick();
        served += 1;
        row.push(ms);
      }
      const wall = row.reduce((a, b) => a + b, 0) / 1000;
      advance(wall);
      seconds.measuring += wall;
      batches += 1;
      perRepetition.push(row);
      repWalls.push(wall);
    }
    advance(timing.teardownS);
    seconds.other += timing.teardownS;
    times.set(arm.armId, perRepetition);
    walls.set(arm.armId, repWalls);
  }
  // Teacher forcing of every measured arm but the opening baseline, on the closing baseline.
  const forced =
    (options.arms.length - 1) * options.repetitions * timing.outputsPerRepetition * timing.teacherForceS;
  seconds.other += forced;
  return { measurements: agentFigures(options.arms, times, walls), seconds };
}

/**
 * The agent's per-arm figures: each arm's times to token k against the nearest baseline arms
 * before and after it (for the job's bookends, the whole job), the closing baseline's against the
 * opening one.
 */
function agentFigures(
  arms: readonly SimulatedArm[],
  times: ReadonlyMap<string, number[][]>,
  walls: ReadonlyMap<string, number[]>,
): ArmMeasurement[] {
  const baselineAt = arms.flatMap((a, i) => (isBaselineRole(a.role) ? [i] : []));
  return arms.map((arm, index) => {
    const repWalls = walls.get(arm.armId) ?? [];
    const own = times.get(arm.armId) ?? [];
    const before = baselineAt.filter((i) => i < index).at(-1);
    const after = baselineAt.find((i) => i > index);
    const opening = times.get(arms[before ?? -1]?.armId ?? "");
    // A baseline after the first closes the block before it: it is timed against that block's
    // opening baseline, its own times as the closing ones.
    const closing = isBaselineRole(arm.role) ? own : times.get(arms[after ?? -1]?.armId ?? "");
    const tokenK =
      index === 0 || !opening
        ? undefined
        : own.flatMap((row, repetition) =>
            row.map((armMs, i) => ({
              repetition,
              armMs,
              openingMs: opening[repetition]?.[i] ?? 0,
              closingMs: closing?.[repetition]?.[i] ?? 0,
            })),
          );
    const baseline = isBaselineRole(arm.role);
    return {
      armId: arm.armId,
      role: arm.role,
      submissionId: arm.submissionId,
      outcome: "measured",
      reason: "",
      wallS: median(repWalls),
      wallCv: coefficientOfVariation(repWalls),
      repetitions: repWalls.length,
      requests: own.length * (own[0]?.length ?? 0),
      failedRequests: 0,
      correctnessPassed: baseline ? undefined : true,
      correctnessReasons: [],
      ...(tokenK ? { tokenK } : {}),
    };
  });
}

function estimateJobSeconds(options: SimulatePodJobOptions): number {
  const { timing } = options;
  const perArm =
    timing.idleGateS +
    timing.loadS +
    timing.teardownS +
    timing.baselineRepetitionS * (options.repetitions + 1);
  return timing.jobOverheadS + perArm * options.arms.length;
}

function isBaselineRole(role: ArmRoleName): boolean {
  return role === "opening-baseline" || role === "closing-baseline" || role === "interim-baseline";
}

function lerp(range: readonly [number, number], t: number): number {
  return range[0] + (range[1] - range[0]) * t;
}

/** Standard normal variates (Box-Muller) from a uniform source. */
export function normalOf(random: SeededRandom): () => number {
  return () => {
    let u = 0;
    while (u === 0) u = random.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
  };
}
