import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { JobRunner } from "./job-runner.ts";

/**
 * The part of the control plane (controller/control-plane/control-plane.ts, `ControlPlane`) the
 * runner uses; declared here so the round engine depends on this seam only.
 */
export interface JobDispatch {
  connectedAgents(): { agentId: string; podId: string; openJobIds: string[] }[];
  assignJob(agentId: string, job: EvaluationJob): Promise<EvaluationJob>;
  cancelJob(jobId: string, reason: string): void;
  addListener(listener: {
    jobFinished?(agentId: string, result: JobResult): void;
    jobFailed?(agentId: string, failure: { jobId: string; reason: string; retryable: boolean }): void;
    jobsReturned?(agentId: string, jobIds: string[], reason: string): void;
  }): () => void;
}

/**
 * Runs jobs on remote agents through the control plane: a pod is an agent's pod id; a pod is idle
 * when its agent is connected with no open job. A job resolves with the agent's JobResult and
 * rejects when the agent reports failure, is lost, or hands the job back, so the round retries it
 * elsewhere. Cancelling the signal cancels the job on the agent.
 */
export function createControlPlaneJobRunner(dispatch: JobDispatch): JobRunner & { close(): void } {
  const waiting = new Map<string, { resolve: (r: JobResult) => void; reject: (e: Error) => void }>();
  const claimed = new Set<string>();
  const remove = dispatch.addListener({
    jobFinished(_agent, result) {
      waiting.get(result.jobId)?.resolve(result);
    },
    jobFailed(agent, failure) {
      waiting
        .get(failure.jobId)
        ?.reject(
          new CacheonError(
            failure.retryable ? "unavailable" : "failed-precondition",
            `agent ${agent}: ${failure.reason}`,
          ),
        );
    },
    jobsReturned(agent, jobIds, reason) {
      for (const id of jobIds)
        waiting
          .get(id)
          ?.reject(new CacheonError("unavailable", `agent ${agent} handed the job back: ${reason}`));
    },
  });
  const agents = () => dispatch.connectedAgents();
  return {
    idlePods: () =>
      agents()
        .filter((a) => a.openJobIds.length === 0 && !claimed.has(a.podId))
        .map((a) => a.podId),
    allPods: () => [...new Set(agents().map((a) => a.podId))],
    async run(podId, job, signal) {
      const agent = agents().find((a) => a.podId === podId);
      if (!agent) throw new CacheonError("unavailable", `no connected agent on pod ${podId}`);
      claimed.add(podId);
      const onAbort = () => {
        try {
          dispatch.cancelJob(
            job.jobId,
            String((signal.reason as Error)?.message ?? "cancelled by the controller"),
          );
        } catch {
          // the job may already be over
        }
        waiting
          .get(job.jobId)
          ?.reject(CacheonError.from(signal.reason ?? new CacheonError("cancelled", "cancelled")));
      };
      try {
        const result = new Promise<JobResult>((resolve, reject) =>
          waiting.set(job.jobId, { resolve, reject }),
        );
        await dispatch.assignJob(agent.agentId, job);
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) onAbort();
        return await result;
      } finally {
        signal.removeEventListener("abort", onAbort);
        waiting.delete(job.jobId);
        claimed.delete(podId);
      }
    },
    close: remove,
  };
}
