import type { JobEventPayload, JobExecutor } from "../../agent/job/job-executor.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";

/**
 * Where a round's jobs run. Two implementations: {@link createLocalJobRunner} (agents in this
 * process, calling a JobExecutor directly: local mode, tests, the demo) and
 * `createControlPlaneJobRunner` (remote agents on rented pods through the control plane).
 */
export interface JobRunner {
  /** Pods able to take a job now (connected and idle). */
  idlePods(): string[];
  /** Every pod known now, busy or not (to tell "wait for a pod" from "no such pod will come"). */
  allPods(): string[];
  /**
   * Runs a job on a pod to its end. Rejects when the pod is lost or the job cannot run there;
   * the round retries it elsewhere. `signal` cancels it.
   */
  run(podId: string, job: EvaluationJob, signal: AbortSignal): Promise<JobResult>;
}

/** Options of {@link createLocalJobRunner}. */
export interface LocalJobRunnerOptions {
  /** Named local agents ("pods") and the executor each runs jobs with. */
  pods: Record<string, JobExecutor>;
  /** Progress of running jobs (for logs and the web page). */
  onEvent?: (podId: string, payload: JobEventPayload) => void;
}

/** A runner over executors in this process; each pod runs one job at a time. */
export function createLocalJobRunner(options: LocalJobRunnerOptions): JobRunner {
  const busy = new Set<string>();
  const names = Object.keys(options.pods);
  return {
    idlePods: () => names.filter((n) => !busy.has(n)),
    allPods: () => [...names],
    async run(podId, job, signal) {
      const executor = options.pods[podId];
      if (!executor)
        throw new CacheonError("not-found", `no local pod named ${podId}; known: ${names.join(", ")}`);
      if (busy.has(podId))
        throw new CacheonError("failed-precondition", `local pod ${podId} is already running a job`);
      busy.add(podId);
      try {
        return await executor(job, { signal, emit: (payload) => options.onEvent?.(podId, payload) });
      } finally {
        busy.delete(podId);
      }
    },
  };
}
