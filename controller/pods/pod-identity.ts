/**
 * What tells two pods apart when a result must be reproduced independently: the same host, the
 * same GPUs or (with several providers) the same provider could reproduce its own result.
 */
export interface PodIdentity {
  podId: string;
  /** Provider name ("command:lium", "static", "manual" for agents enrolled by hand, "local"). */
  provider: string;
  /** Machine address as the provider (or the agent's report) gave it; "" when unknown. */
  host: string;
  /** GPU UUIDs from the agent's hardware report, sorted; empty when unknown. */
  gpuUuids: string[];
}

/** Looks pods up by id; identities are kept in the store, so they outlive released pods. */
export interface PodDirectory {
  identity(podId: string): PodIdentity | undefined;
  /** How many providers pods come from (provider independence counts only with more than one). */
  readonly providers: number;
}

/** The pods a job must avoid. */
export interface PodExclusion {
  /** Pods it must not run on at all (it failed there). */
  pods: string[];
  /**
   * Pods whose host, GPUs and (with several providers) provider it must not share: the pod of
   * the measurement a reproduction checks.
   */
  independentOf: string[];
}

/** Decides whether `candidate` is independent of every pod in `of` (controller/rounds/is-independent.ts). */
export type IndependenceRule = (
  candidate: PodIdentity,
  of: readonly PodIdentity[],
  options: { providers: number },
) => boolean;

/**
 * The rule in force until a stricter one is passed: another pod id is another pod. Used where
 * pods are logical (local mode) or by callers that do not check hosts.
 */
export const distinctPodIds: IndependenceRule = (candidate, of) =>
  of.every((o) => o.podId !== candidate.podId);

/**
 * Whether `podId` may take a job with `exclusion` (pure apart from the lookups): false when
 * excluded or not independent, true when independent, undefined when the candidate's identity
 * is not known yet (a pod still booting: it may or may not qualify once it reports). A pod the
 * job must be independent of that the directory does not know makes every candidate fail:
 * independence from an unknown machine cannot be shown.
 */
export function podEligibility(
  podId: string,
  exclusion: PodExclusion | undefined,
  directory: PodDirectory,
  rule: IndependenceRule,
): boolean | undefined {
  if (!exclusion) return true;
  if (exclusion.pods.includes(podId) || exclusion.independentOf.includes(podId)) return false;
  if (exclusion.independentOf.length === 0) return true;
  const of: PodIdentity[] = [];
  for (const id of exclusion.independentOf) {
    const identity = directory.identity(id);
    if (!identity) return false;
    of.push(identity);
  }
  const candidate = directory.identity(podId);
  if (!candidate) return undefined;
  return rule(candidate, of, { providers: directory.providers });
}

/** `podEligibility` as a filter: `eligibleFor(exclusion)(podId)` is true only for a pod shown eligible. */
export function eligibility(
  directory: PodDirectory,
  rule: IndependenceRule = distinctPodIds,
): (exclusion: PodExclusion | undefined) => (podId: string) => boolean {
  return (exclusion) => (podId) => podEligibility(podId, exclusion, directory, rule) === true;
}
