import type { ArmRoleName } from "../scoring/score-job.ts";

/** A submission to run in a job. */
export interface ArmSubject {
  submissionId: string;
  hotkey: string;
  /** Canonical image reference pinned by digest. */
  image: string;
}

/** One arm of a planned job. The baseline arms carry no subject. */
export interface PlannedArm {
  armId: string;
  role: ArmRoleName;
  subject?: ArmSubject | undefined;
}

/** A job to run once (retries are attempts of the same slot). */
export interface PlannedSlot {
  /** Unique within the round: "e0", "e1", ... for evaluation, "r0", ... for reproduction. */
  slot: string;
  arms: PlannedArm[];
  /** Pods the job must not run on (reproductions avoid the pods of the first measurement). */
  excludedPods: string[];
  /** Pods whose machine (host, GPUs, provider) the job must not share. @default [] */
  independentOf?: string[];
}

/** Options of {@link planEvaluation}. */
export interface PlanEvaluationOptions {
  challengers: readonly ArmSubject[];
  leader?: ArmSubject | undefined;
  runnerUp?: ArmSubject | undefined;
  /** Most challengers in one job (each job also runs two baselines, leader and runner-up). */
  maxChallengersPerJob: number;
  /** Interleaved blocks per job (see armsFor). @default 1 */
  blocks?: number | undefined;
}

/**
 * Splits challengers into jobs. Every job runs opening baseline, leader, runner-up, its
 * challengers and closing baseline, so every comparison is made within one pod. Challengers are
 * dealt round-robin so jobs are even in size. Pure.
 */
export function planEvaluation(options: PlanEvaluationOptions): PlannedSlot[] {
  const per = Math.max(1, Math.floor(options.maxChallengersPerJob));
  const challengers = options.challengers.filter(
    (c) =>
      c.submissionId !== options.leader?.submissionId && c.submissionId !== options.runnerUp?.submissionId,
  );
  if (challengers.length === 0) return [];
  const jobs = Math.ceil(challengers.length / per);
  const groups: ArmSubject[][] = Array.from({ length: jobs }, () => []);
  challengers.forEach((c, i) => {
    groups[i % jobs]?.push(c);
  });
  return groups.map((group, i) => ({
    slot: `e${i}`,
    arms: armsFor(group, options.leader, options.runnerUp, options.blocks),
    excludedPods: [],
  }));
}

/** A challenger that beat a seat (or landed inside the noise band) and must be measured again elsewhere. */
export interface ReproductionCandidate {
  subject: ArmSubject;
  /**
   * Pods that measured it before; the new job must run on another machine than each (another
   * pod, host and GPU set; see isIndependent).
   */
  avoidPods: readonly string[];
}

/**
 * One job per set of pods to avoid (challengers measured on the same pods share a job), which
 * names those pods as excluded and as the pods it must be independent of. Re-measurements of
 * readings inside the noise band are planned the same way under another slot prefix. Pure.
 */
export function planReproduction(options: {
  candidates: readonly ReproductionCandidate[];
  leader?: ArmSubject | undefined;
  runnerUp?: ArmSubject | undefined;
  /** @default "r" */
  slotPrefix?: string;
  /** Number of the first slot (slots already planned under the prefix). @default 0 */
  firstSlot?: number;
  /** Most challengers in one job; a larger group is split. @default unlimited */
  maxChallengersPerJob?: number | undefined;
  /** Interleaved blocks per job (see armsFor). @default 1 */
  blocks?: number | undefined;
}): PlannedSlot[] {
  const prefix = options.slotPrefix ?? "r";
  const first = options.firstSlot ?? 0;
  const byPods = new Map<string, { pods: string[]; group: ArmSubject[] }>();
  for (const c of options.candidates) {
    const pods = [...new Set(c.avoidPods)].sort();
    const key = pods.join("\n");
    const entry = byPods.get(key) ?? { pods, group: [] };
    entry.group.push(c.subject);
    byPods.set(key, entry);
  }
  const per = Math.max(1, Math.floor(options.maxChallengersPerJob ?? Number.POSITIVE_INFINITY));
  return [...byPods.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .flatMap(([, { pods, group }]) => chunks(group, per).map((part) => ({ pods, part })))
    .map(({ pods, part }, i) => ({
      slot: `${prefix}${first + i}`,
      arms: armsFor(part, options.leader, options.runnerUp, options.blocks),
      excludedPods: pods,
      independentOf: pods,
    }));
}

/** Splits a group into even parts of at most `size` (round-robin, as planEvaluation deals). */
function chunks<T>(group: readonly T[], size: number): T[][] {
  if (!Number.isFinite(size) || group.length <= size) return [[...group]];
  const count = Math.ceil(group.length / size);
  const parts: T[][] = Array.from({ length: count }, () => []);
  group.forEach((item, i) => {
    parts[i % count]?.push(item);
  });
  return parts;
}

/**
 * A job's arms: the opening baseline, then the seat holders and challengers, then the closing
 * baseline. Interleaved (blocks > 1), that middle part is run `blocks` times with an interim
 * baseline between (B L C B C L B): every comparison is made within one block, against the
 * baselines just around it, so the pod's drift counts over one block rather than the whole job,
 * and each image is started once per block, so its start-to-start differences show. Every other
 * block runs in reverse order, so no image always runs first or last after a baseline.
 */
export function armsFor(
  group: readonly ArmSubject[],
  leader?: ArmSubject,
  runnerUp?: ArmSubject,
  blocks = 1,
): PlannedArm[] {
  const middle: { role: PlannedArm["role"]; subject: ArmSubject }[] = [];
  if (leader) middle.push({ role: "leader", subject: leader });
  if (runnerUp) middle.push({ role: "runner-up", subject: runnerUp });
  for (const c of group) middle.push({ role: "challenger", subject: c });
  const count = Math.max(1, Math.floor(blocks));
  const arms: PlannedArm[] = [{ armId: "a0", role: "opening-baseline" }];
  for (let b = 0; b < count; b++) {
    if (b > 0) arms.push({ armId: `a${arms.length}`, role: "interim-baseline" });
    for (const m of b % 2 === 0 ? middle : [...middle].reverse())
      arms.push({ armId: `a${arms.length}`, role: m.role, subject: m.subject });
  }
  arms.push({ armId: `a${arms.length}`, role: "closing-baseline" });
  return arms;
}
