import { isTerminal, type PodState } from "./pod-state.ts";

/** One live pod as the capacity decision sees it, for one waiting job. */
export interface CapacityPod {
  podId: string;
  state: PodState;
  /** When it entered its state, ms since the epoch. */
  stateSinceMs: number;
  /** Whether it may take the job: true, false, or undefined while its identity is unknown (booting). */
  eligible: boolean | undefined;
}

/** Inputs of {@link planCapacity}. */
export interface CapacityInput {
  /** The fleet's pods (terminal ones are ignored). */
  pods: readonly CapacityPod[];
  /** Most pods alive at once (the budget). */
  maxPods: number;
  nowMs: number;
  /**
   * At the budget, an idle pod the job may not use is returned to make room once it has been
   * idle this long with nobody taking it, ms.
   */
  replaceIdleAfterMs: number;
  /** No rental before this (a rental failed recently), ms since the epoch; 0 for none. */
  rentBlockedUntilMs: number;
}

/** What the fleet does for a job that found no eligible idle pod. */
export type CapacityDecision =
  | { kind: "wait"; why: string }
  | { kind: "rent"; why: string }
  | { kind: "replace"; podId: string; why: string };

const coming: readonly PodState[] = ["requested", "booting", "enrolled"];

/**
 * Decides, for one job that found no eligible idle pod, whether to wait, rent a pod, or return
 * an idle pod the job cannot use and rent another in its place (pure). A pod that may qualify
 * and is on its way is waited for; otherwise a pod is rented within the budget; at the budget,
 * when no live pod may ever take the job, an idle pod nobody took for `replaceIdleAfterMs` is
 * replaced, so a small budget (one pod) can still reproduce on another machine. Rentals wait out
 * a recent failure.
 */
export function planCapacity(input: CapacityInput): CapacityDecision {
  const live = input.pods.filter((p) => !isTerminal(p.state));
  const arriving = live.find((p) => coming.includes(p.state) && p.eligible !== false);
  if (arriving) return { kind: "wait", why: `pod ${arriving.podId} is on its way (${arriving.state})` };
  if (input.nowMs < input.rentBlockedUntilMs) {
    return {
      kind: "wait",
      why: `a rental failed; the next is tried in ${Math.ceil((input.rentBlockedUntilMs - input.nowMs) / 1000)} s`,
    };
  }
  if (live.length < input.maxPods) {
    const busy = live.filter((p) => p.eligible === true).length;
    return {
      kind: "rent",
      why: busy > 0 ? `every eligible pod (${busy}) is busy` : "no live pod may take the job",
    };
  }
  const busy = live.find((p) => p.eligible !== false);
  if (busy)
    return {
      kind: "wait",
      why: `at the budget of ${input.maxPods} pod(s); ${busy.podId} may take it when free`,
    };
  const spare = live
    .filter((p) => (p.state === "idle" || p.state === "verified") && p.eligible === false)
    .filter((p) => input.nowMs - p.stateSinceMs >= input.replaceIdleAfterMs)
    .sort((a, b) => a.stateSinceMs - b.stateSinceMs)[0];
  if (spare) {
    return {
      kind: "replace",
      podId: spare.podId,
      why: `at the budget of ${input.maxPods} pod(s), ${spare.podId} sat idle and the job may not use it`,
    };
  }
  return { kind: "wait", why: `at the budget of ${input.maxPods} pod(s); waiting for one to go idle` };
}
