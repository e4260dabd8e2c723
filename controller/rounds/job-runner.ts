import type { JobEventPayload, JobExecutor } from "../../agent/job/job-executor.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import {
  eligibility,
  type IndependenceRule,
  type PodDirectory,
  type PodExclusion,
} from "../pods/pod-identity.ts";

/**
 * Where a round's jobs run. Two implementations: {@link createLocalJobRunner} (agents in this
 * process, calling a JobExecutor directly: local mode, tests, the demo) and
 * `createControlPlaneJobRunner` (remote agents on rented pods through the control plane).
 */
export interface JobRunner {
  /**
   * Pods able to take a job with `exclusion` now (connected, idle, not excluded, independent of
   * the pods it must be independent of). A runner that rents pods starts renting one (within its
   * budget) when none qualifies, so asking is also how demand is signalled.
   */
  idlePods(exclusion?: PodExclusion): string[];
  /** Every pod known now, busy or not. */
  allPods(): string[];
  /**
   * False when no pod that satisfies `exclusion` exists, is on its way, or can be rented: the
   * job is given up for this round instead of waiting for its deadline.
   */
  canPlace(exclusion: PodExclusion): boolean;
  /**
   * Runs a job on a pod to its end. Rejects when the pod is lost or the job cannot run there;
   * the round retries it elsewhere. `signal` cancels it.
   */
  run(podId: string, job: EvaluationJob, signal: AbortSignal): Promise<JobResult>;
  /**
   * After a controller restart, for a job the store says was running on `podId`: a promise of
   * its result when the job is still alive there (an adopted pod) or finished while the
   * controller was down, awaited like {@link JobRunner.run}; undefined when it is gone (the
   * round reruns it). Runners whose jobs cannot outlive the controller leave it out.
   */
  resume?(podId: string, job: EvaluationJob, signal: AbortSignal): Promise<JobResult> | undefined;
}

/** Options of {@link createLocalJobRunner}. */
export interface LocalJobRunnerOptions {
  /** Named local agents ("pods") and the executor each runs jobs with. */
  pods: Record<string, JobExecutor>;
  /** Progress of running jobs (for logs and the web page). */
  onEvent?: (podId: string, payload: JobEventPayload) => void;
  /** Which pods count as independent. @default distinct pod names (local pods share a host by design) */
  independent?: IndependenceRule;
  /** Identities of the pods (tests of the independence rule give two names one host). @default localPodDirectory(names) */
  directory?: PodDirectory;
  /**
   * Keeps an artefact a job handed over (each arm's evidence bundle) where the controller reads
   * it at publication; awaited before the job's result is returned. A failure loses only that
   * artefact (publication then names it missing). @default nothing is kept
   */
  keep?: (jobId: string, name: string, body: Uint8Array) => Promise<void>;
}

/**
 * Local pods as a directory: each name is its own machine (they share this host by design, in
 * the demo and tests), with a synthetic GPU set so a rule that fails closed on unknown GPUs
 * still tells them apart.
 */
export function localPodDirectory(names: readonly string[]): PodDirectory {
  return {
    providers: 1,
    identity: (podId) =>
      names.includes(podId)
        ? { podId, provider: "local", host: podId, gpuUuids: [`local-${podId}`] }
        : undefined,
  };
}

/** A runner over executors in this process; each pod runs one job at a time. */
export function createLocalJobRunner(options: LocalJobRunnerOptions): JobRunner {
  const busy = new Set<string>();
  const names = Object.keys(options.pods);
  const eligible = eligibility(options.directory ?? localPodDirectory(names), options.independent);
  return {
    idlePods: (exclusion) => names.filter((n) => !busy.has(n)).filter(eligible(exclusion)),
    allPods: () => [...names],
    canPlace: (exclusion) => names.some(eligible(exclusion)),
    async run(podId, job, signal) {
      const executor = options.pods[podId];
      if (!executor)
        throw new CacheonError("not-found", `no local pod named ${podId}; known: ${names.join(", ")}`);
      if (busy.has(podId))
        throw new CacheonError("failed-precondition", `local pod ${podId} is already running a job`);
      busy.add(podId);
      const keeping: Promise<void>[] = [];
      try {
        return await executor(job, {
          signal,
          emit: (payload) => options.onEvent?.(podId, payload),
          ...(options.keep
            ? {
                artefact: (name: string, body: Uint8Array) =>
                  void keeping.push(options.keep?.(job.jobId, name, body) ?? Promise.resolve()),
              }
            : {}),
        });
      } finally {
        await Promise.allSettled(keeping);
        busy.delete(podId);
      }
    },
  };
}
