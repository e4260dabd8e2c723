import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { eligibility, type IndependenceRule, type PodDirectory } from "../pods/pod-identity.ts";
import type { JobRunner } from "./job-runner.ts";

/** An artefact the job may upload (controller/control-plane/upload-storage.ts, UploadRequest). */
export interface ArtefactRequest {
  name: string;
  maxBytes: number;
}

/** The controller's check of one uploaded artefact (UploadVerification). */
export interface ArtefactCheck {
  jobId: string;
  name: string;
  verified: boolean;
  problem?: string;
  location: string;
}

/** Options of {@link createControlPlaneJobRunner}. */
export interface ControlPlaneJobRunnerOptions {
  /** Raw artefacts each job uploads through pre-signed URLs; none when absent. */
  uploads?: (job: EvaluationJob) => ArtefactRequest[];
  /**
   * After the result arrives, how long to wait for the agent's uploads to be verified before the
   * job is recorded without the missing ones, ms. @default 60000
   */
  artefactWaitMs?: number;
  /** Identities of the agents' pods (hosts, GPUs), for independence. @default pod ids only */
  directory?: PodDirectory;
  /** Which pods count as independent. @default distinct pod ids */
  independent?: IndependenceRule;
  /** @default silentLogger */
  logger?: Logger;
}

/** Where a job stands on the control plane, as stored (it survives a controller restart). */
export type JobOutcome =
  | { state: "assigned" | "cancelled" | "lost"; agentId: string; podId: string }
  | { state: "finished"; agentId: string; podId: string; result: JobResult }
  | { state: "failed"; agentId: string; podId: string; reason: string; retryable: boolean };

/**
 * The part of the control plane (controller/control-plane/control-plane.ts, `ControlPlane`) the
 * runner uses; declared here so the round engine depends on this seam only.
 */
export interface JobDispatch {
  connectedAgents(): { agentId: string; podId: string; openJobIds: string[] }[];
  assignJob(
    agentId: string,
    job: EvaluationJob,
    options?: { uploads?: ArtefactRequest[] },
  ): Promise<EvaluationJob>;
  cancelJob(jobId: string, reason: string): void;
  /** The stored state of a job (and its first result or failure), undefined when never assigned. */
  jobOutcome(jobId: string): JobOutcome | undefined;
  addListener(listener: {
    jobFinished?(agentId: string, result: JobResult): void;
    jobFailed?(agentId: string, failure: { jobId: string; reason: string; retryable: boolean }): void;
    jobsReturned?(agentId: string, jobIds: string[], reason: string): void;
    artefactVerified?(agentId: string, verification: ArtefactCheck): void;
  }): () => void;
}

/** A runner that also answers which artefacts of a job were verified. */
export interface ControlPlaneJobRunner extends JobRunner {
  /** Verified (and refused) artefacts of a job, in the order their checks completed. */
  artefacts(jobId: string): ArtefactCheck[];
  close(): void;
}

/**
 * Runs jobs on remote agents through the control plane: a pod is an agent's pod id; a pod is idle
 * when its agent is connected with no open job. A job resolves with the agent's JobResult and
 * rejects when the agent reports failure, is lost, or hands the job back, so the round retries it
 * elsewhere. Cancelling the signal cancels the job on the agent.
 */
export function createControlPlaneJobRunner(
  dispatch: JobDispatch,
  options: ControlPlaneJobRunnerOptions = {},
): ControlPlaneJobRunner {
  const logger = options.logger ?? silentLogger;
  const waiting = new Map<string, { resolve: (r: JobResult) => void; reject: (e: Error) => void }>();
  const claimed = new Set<string>();
  const checks = new Map<string, ArtefactCheck[]>();
  const checked = new Map<string, () => void>();
  const remove = dispatch.addListener({
    artefactVerified(agent, verification) {
      const list = checks.get(verification.jobId);
      if (!list) return;
      list.push(verification);
      if (!verification.verified) logger.warn("an uploaded artefact was refused", { agent, ...verification });
      checked.get(verification.jobId)?.();
    },
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
  const eligible = eligibility(
    options.directory ?? {
      providers: 1,
      identity: (podId) => ({ podId, provider: "", host: "", gpuUuids: [] }),
    },
    options.independent,
  );
  /** Waits for the result of a job the agent holds; cancelling `signal` cancels it there. */
  const awaitResult = async (
    podId: string,
    job: EvaluationJob,
    signal: AbortSignal,
    send: () => Promise<number>,
  ): Promise<JobResult> => {
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
      const result = new Promise<JobResult>((resolve, reject) => waiting.set(job.jobId, { resolve, reject }));
      const expectedUploads = await send();
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
      const finished = await result;
      if (expectedUploads > 0) await artefactsChecked(job.jobId, expectedUploads, signal);
      return finished;
    } finally {
      signal.removeEventListener("abort", onAbort);
      waiting.delete(job.jobId);
      checked.delete(job.jobId);
      claimed.delete(podId);
    }
  };
  return {
    idlePods: (exclusion) =>
      agents()
        .filter((a) => a.openJobIds.length === 0 && !claimed.has(a.podId))
        .map((a) => a.podId)
        .filter(eligible(exclusion)),
    allPods: () => [...new Set(agents().map((a) => a.podId))],
    canPlace: (exclusion) => agents().some((a) => eligible(exclusion)(a.podId)),
    async run(podId, job, signal) {
      const agent = agents().find((a) => a.podId === podId);
      if (!agent) throw new CacheonError("unavailable", `no connected agent on pod ${podId}`);
      return awaitResult(podId, job, signal, async () => {
        const uploads = options.uploads?.(job) ?? [];
        checks.set(job.jobId, []);
        await dispatch.assignJob(agent.agentId, job, uploads.length > 0 ? { uploads } : {});
        return uploads.length;
      });
    },
    resume(podId, job, signal) {
      const outcome = dispatch.jobOutcome(job.jobId);
      // Not ours to resume: never sent, sent to another pod's agent, or already given up.
      if (!outcome || outcome.podId !== podId) return undefined;
      if (outcome.state === "finished") return Promise.resolve(outcome.result);
      if (outcome.state === "failed") {
        return Promise.reject(
          new CacheonError(
            outcome.retryable ? "unavailable" : "failed-precondition",
            `agent ${outcome.agentId}: ${outcome.reason}`,
          ),
        );
      }
      if (outcome.state !== "assigned") return undefined;
      logger.info("resuming a job its agent kept running across a controller restart", {
        job: job.jobId,
        podId,
      });
      // Artefacts verified before the restart were reported to the old process; the job is
      // recorded without waiting for them again.
      return awaitResult(podId, job, signal, async () => 0);
    },
    artefacts: (jobId) => [...(checks.get(jobId) ?? [])],
    close: remove,
  };

  /** Waits until every upload of a job was checked, or artefactWaitMs passed (logged, not fatal). */
  async function artefactsChecked(jobId: string, expected: number, signal: AbortSignal): Promise<void> {
    const done = () => (checks.get(jobId)?.length ?? 0) >= expected;
    if (done()) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        resolve();
      };
      const timer = setTimeout(() => {
        logger.warn("artefacts not all verified in time; the job is recorded without them", {
          jobId,
          verified: checks.get(jobId)?.length ?? 0,
          expected,
        });
        finish();
      }, options.artefactWaitMs ?? 60_000);
      checked.set(jobId, () => done() && finish());
      signal.addEventListener("abort", finish, { once: true });
    });
  }
}
