import type { AgentEvent } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";

/** An event payload a running job reports; the session layer adds the sequence number and time. */
export type JobEventPayload = Exclude<AgentEvent["payload"], { case: undefined }>;

/** What a job executor is given besides the job. */
export interface JobContext {
  /** Aborted when the controller cancels the job or the agent shuts down. */
  signal: AbortSignal;
  /**
   * Reports progress, metrics batches, arm results and log excerpts as they happen. The session
   * layer sequences them and guarantees delivery across reconnects. Never throws.
   */
  emit(payload: JobEventPayload): void;
  /**
   * Takes an artefact the job produced for upload or keeping (each arm's evidence bundle,
   * `arms/<arm>/evidence.json`), once the job's result is final. Absent: nothing is kept.
   */
  artefact?(name: string, body: Uint8Array): void;
}

/**
 * Runs one evaluation job to the end and returns its result. The seam between the control plane
 * (which receives jobs and streams events) and the pod job (which pulls, runs and measures):
 * `agent/session/` calls it, `agent/job/run-pod-job.ts` implements it, local mode calls the
 * implementation directly.
 */
export type JobExecutor = (job: EvaluationJob, context: JobContext) => Promise<JobResult>;
