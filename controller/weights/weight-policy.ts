import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { VacantLeaderRule } from "./paid-seats.ts";

/** How the competition's weight is split. */
export interface WeightPolicy {
  /** Leader's share of the competition pool when there is a runner-up. @default 0.8 */
  leaderShare: number;
  /** Runner-up's share; the leader gets everything when there is none. @default 0.2 */
  runnerUpShare: number;
  /** Share of all weight sent to `burnUid` before the pool is split (0 = none). @default 0 */
  burnShare: number;
  /** Uid that receives burned weight and the fallback. @default 0 */
  burnUid: number;
  /** With no leader yet: "burn" sends everything to `burnUid`; "skip" sets no weights. @default "burn" */
  fallback: "burn" | "skip";
  /**
   * When the leader's hotkey left the subnet: its share goes to the runner-up, or is burned.
   * @default "promote-runner-up"
   */
  vacantLeader?: VacantLeaderRule | undefined;
}

/** Default split: leader 80%, runner-up 20%, no burn, fallback to the burn uid. */
export const defaultWeightPolicy: Readonly<WeightPolicy> = Object.freeze({
  leaderShare: 0.8,
  runnerUpShare: 0.2,
  burnShare: 0,
  burnUid: 0,
  fallback: "burn",
  vacantLeader: "promote-runner-up",
});

/** Weights to set, as u16 values the chain stores (the largest is 65535, as the chain upscales). */
export interface WeightVector {
  uids: number[];
  weights: number[];
  /** Why these weights, for the record. */
  reason: string;
}

/** Who sits where, by uid. */
export interface PaidUids {
  leaderUid?: number | undefined;
  runnerUpUid?: number | undefined;
  /**
   * The leader's seat was dropped and its share is burned (paid-seats.ts, rule "burn"): the
   * runner-up keeps only its own share.
   */
  vacantLeader?: boolean | undefined;
}

/**
 * The weights for a standing: burn share first, then leader/runner-up from the rest
 * (leader takes all of it when alone); no leader means the fallback. Duplicate uids are
 * merged (the chain refuses duplicates). Returns undefined when nothing should be set. Pure.
 */
export function computeWeights(paid: PaidUids, policy: WeightPolicy): WeightVector | undefined {
  checkPolicy(policy);
  const shares = new Map<number, number>();
  const add = (uid: number, share: number) => {
    if (share > 0) shares.set(uid, (shares.get(uid) ?? 0) + share);
  };
  let reason: string;
  if (paid.vacantLeader && paid.runnerUpUid !== undefined) {
    const pool = 1 - policy.burnShare;
    const total = policy.leaderShare + policy.runnerUpShare;
    add(policy.burnUid, policy.burnShare + (pool * policy.leaderShare) / total);
    add(paid.runnerUpUid, (pool * policy.runnerUpShare) / total);
    reason = `leader seat vacant: its share burned to uid ${policy.burnUid}; runner-up uid ${paid.runnerUpUid}`;
  } else if (paid.leaderUid === undefined) {
    if (policy.fallback === "skip") return undefined;
    add(policy.burnUid, 1);
    reason = `no leader yet: fallback, all weight to burn uid ${policy.burnUid}`;
  } else {
    const pool = 1 - policy.burnShare;
    add(policy.burnUid, policy.burnShare);
    if (paid.runnerUpUid === undefined || paid.runnerUpUid === paid.leaderUid) {
      add(paid.leaderUid, pool);
      reason = `leader uid ${paid.leaderUid} alone takes the pool`;
    } else {
      const total = policy.leaderShare + policy.runnerUpShare;
      add(paid.leaderUid, (pool * policy.leaderShare) / total);
      add(paid.runnerUpUid, (pool * policy.runnerUpShare) / total);
      reason = `leader uid ${paid.leaderUid}, runner-up uid ${paid.runnerUpUid}`;
    }
    if (policy.burnShare > 0)
      reason += `; ${(policy.burnShare * 100).toFixed(1)}% burned to uid ${policy.burnUid}`;
  }
  const entries = [...shares.entries()].sort((a, b) => a[0] - b[0]);
  const max = Math.max(...entries.map(([, s]) => s));
  return {
    uids: entries.map(([uid]) => uid),
    weights: entries.map(([, s]) => Math.round((s / max) * 65535)),
    reason,
  };
}

/** A stable text of a vector, to tell whether weights changed. */
export function weightKey(vector: Pick<WeightVector, "uids" | "weights">): string {
  return vector.uids.map((uid, i) => `${uid}:${vector.weights[i]}`).join(",");
}

/** Options of {@link weightsDue}. */
export interface WeightsDueOptions {
  /** Current finalized block. */
  block: number;
  /** The vector the standing asks for now. */
  desired: WeightVector | undefined;
  /** The last confirmed setting, if any. */
  last?: { block: number; key: string } | undefined;
  /** Set at least this often even when unchanged, blocks (weights expire). */
  refreshBlocks: number;
  /** Never set more often than this, blocks (the chain's WeightsSetRateLimit). */
  rateLimitBlocks: number;
}

/** Whether to set weights now, and why. Pure. */
export function weightsDue(options: WeightsDueOptions): { due: boolean; reason: string } {
  const { block, desired, last } = options;
  if (!desired) return { due: false, reason: "the policy sets no weights (no leader, fallback skip)" };
  if (!last) return { due: true, reason: "no weights set yet" };
  const since = block - last.block;
  if (since < options.rateLimitBlocks) {
    return {
      due: false,
      reason: `rate limit: ${since} of ${options.rateLimitBlocks} blocks since the last setting`,
    };
  }
  if (weightKey(desired) !== last.key) return { due: true, reason: "weights changed" };
  if (since >= options.refreshBlocks)
    return { due: true, reason: `refresh: ${since} blocks since the last setting` };
  return { due: false, reason: `unchanged; next refresh in ${options.refreshBlocks - since} blocks` };
}

function checkPolicy(policy: WeightPolicy): void {
  const problems: string[] = [];
  for (const key of ["leaderShare", "runnerUpShare", "burnShare"] as const) {
    const v = policy[key];
    if (!(v >= 0 && v <= 1)) problems.push(`${key} must be within 0..1, got ${v}`);
  }
  if (!(policy.leaderShare + policy.runnerUpShare > 0))
    problems.push("leaderShare + runnerUpShare must be above 0");
  if (policy.burnShare >= 1) problems.push("burnShare must be below 1 (or nothing is left for miners)");
  if (!Number.isInteger(policy.burnUid) || policy.burnUid < 0 || policy.burnUid > 65535) {
    problems.push(`burnUid must be a uid (0..65535), got ${policy.burnUid}`);
  }
  if (policy.fallback !== "burn" && policy.fallback !== "skip")
    problems.push(`fallback must be "burn" or "skip"`);
  if (problems.length > 0) throw new CacheonError("invalid-config", `weight policy: ${problems.join("; ")}`);
}
