import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { Fleet, FleetPod } from "../pods/fleet.ts";
import { planCapacity } from "../pods/plan-capacity.ts";
import {
  distinctPodIds,
  type IndependenceRule,
  type PodDirectory,
  type PodExclusion,
  podEligibility,
} from "../pods/pod-identity.ts";
import type { PodProfile } from "../pods/pod-provider.ts";
import type { JobRunner } from "../rounds/job-runner.ts";
import { endPodJob } from "./connect-fleet.ts";

/** Options of {@link fleetJobRunner}. */
export interface FleetJobRunnerOptions {
  /** Runs jobs on connected agents (createControlPlaneJobRunner). */
  runner: JobRunner;
  fleet: Fleet;
  /** Hardware rented when jobs wait. */
  profile: PodProfile;
  /** Identities of pods (hosts, GPUs), for jobs that must run independently of another pod. */
  directory: PodDirectory;
  /** Which pods count as independent. @default distinct pod ids */
  independent?: IndependenceRule;
  /** Hosts every rental keeps off (the ledger's notes on hosts that failed). @default none */
  notedHosts?: () => string[];
  /**
   * At the budget, an idle pod no waiting job may use is returned to make room for one it may
   * use after sitting idle this long, ms. @default 60000
   */
  replaceIdleAfterMs?: number;
  /** First wait after a failed rental, doubled per failure up to 10 minutes, ms. @default 15000 */
  rentRetryMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default silentLogger */
  logger?: Logger;
}

const coming = new Set(["requested", "booting", "enrolled"]);

/**
 * The control plane runner with the fleet behind it. A fleet pod takes jobs only once verified
 * (or idle); jobs mark it busy. When a job finds no eligible idle pod (every idle one excluded,
 * or on the host a reproduction must avoid) the fleet rents one within its budget, keeping off
 * the hosts to avoid, or at the budget replaces an idle pod nobody may use (planCapacity). So a
 * reproduction that must avoid the only idle pod gets a pod of its own instead of being
 * abandoned round after round.
 */
export function fleetJobRunner(options: FleetJobRunnerOptions): JobRunner {
  const { runner, fleet, profile, directory } = options;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const rule = options.independent ?? distinctPodIds;
  const firstRetryMs = options.rentRetryMs ?? 15_000;
  let retryMs = firstRetryMs;
  let rentBlockedUntilMs = 0;
  /** The provider said it has nothing to give (resource-exhausted), until this time. */
  let exhaustedUntilMs = 0;

  const inFleet = (podId: string) => fleet.pods().some((p) => p.podId === podId);
  const usable = (podId: string) => {
    const pod = fleet.pods().find((p) => p.podId === podId);
    return !pod || pod.state === "verified" || pod.state === "idle";
  };
  const avoidedHosts = (exclusion: PodExclusion | undefined) =>
    (exclusion?.independentOf ?? []).map((id) => directory.identity(id)?.host ?? "").filter((h) => h !== "");
  /** Whether a fleet pod may take the job; a pod still arriving is undecided unless shown unfit. */
  const eligibility = (pod: FleetPod, exclusion: PodExclusion | undefined): boolean | undefined => {
    if (!coming.has(pod.state)) return podEligibility(pod.podId, exclusion, directory, rule);
    if (exclusion?.pods.includes(pod.podId) || exclusion?.independentOf.includes(pod.podId)) return false;
    if (pod.host && avoidedHosts(exclusion).includes(pod.host)) return false;
    return undefined;
  };

  const rent = (exclusion: PodExclusion | undefined, why: string) => {
    const avoidHosts = [...new Set([...avoidedHosts(exclusion), ...(options.notedHosts?.() ?? [])])];
    logger.info("renting a pod for a waiting job", { why, avoidHosts });
    fleet.request(profile, undefined, { avoidHosts }).then(
      () => {
        retryMs = firstRetryMs;
      },
      (error: unknown) => {
        const err = CacheonError.from(error);
        rentBlockedUntilMs = now() + retryMs;
        if (err.code === "resource-exhausted") exhaustedUntilMs = rentBlockedUntilMs;
        logger.warn("could not rent a pod; the round waits and asks again", {
          error: err.message,
          retryInMs: retryMs,
        });
        retryMs = Math.min(retryMs * 2, 600_000);
      },
    );
  };

  const ensureCapacity = (exclusion: PodExclusion | undefined) => {
    const decision = planCapacity({
      pods: fleet.live().map((p) => ({ ...p, eligible: eligibility(p, exclusion) })),
      maxPods: fleet.limits.maxPods,
      nowMs: now(),
      replaceIdleAfterMs: options.replaceIdleAfterMs ?? 60_000,
      rentBlockedUntilMs,
    });
    if (decision.kind === "wait") return;
    if (decision.kind === "replace") {
      logger.info("returning an idle pod to make room", { podId: decision.podId, why: decision.why });
      // The pod leaves the budget at once (its state changes before the machine is returned).
      fleet
        .release(decision.podId, `replaced: ${decision.why}`)
        .catch((error: unknown) => logger.warn("could not return a replaced pod", { error }));
    }
    rent(exclusion, decision.why);
  };

  return {
    idlePods(exclusion) {
      const idle = runner.idlePods(exclusion).filter(usable);
      if (idle.length === 0) ensureCapacity(exclusion);
      return idle;
    },
    allPods: () => [...new Set([...runner.allPods(), ...fleet.live().map((p) => p.podId)])],
    canPlace(exclusion) {
      if (runner.canPlace(exclusion)) return true;
      if (fleet.live().some((p) => eligibility(p, exclusion) !== false)) return true;
      // A pod can be rented (or one replaced) unless the provider just said it has none to give.
      return now() >= exhaustedUntilMs;
    },
    async run(podId, job, signal) {
      const held = inFleet(podId);
      if (held) fleet.assign(podId, job.jobId);
      try {
        return await runner.run(podId, job, signal);
      } finally {
        if (held) endPodJob(fleet, podId, job.jobId);
      }
    },
    resume(podId, job, signal) {
      const resumed = runner.resume?.(podId, job, signal);
      if (!resumed || !inFleet(podId)) return resumed;
      return resumed.finally(() => endPodJob(fleet, podId, job.jobId));
    },
  };
}
