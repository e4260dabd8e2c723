import type { JobState } from "./control-plane-store.ts";

/** What an agent's Hello tells about its jobs, and what the store holds of them. */
export interface ResumeFacts {
  agentId: string;
  /** The job the agent says it is running or has the unacknowledged outcome of; "" for none. */
  resumingJobId: string;
  /** The store's row of that job; undefined when unknown. */
  resumingJob: { agentId: string; state: JobState } | undefined;
  /** Jobs of this agent the store holds as assigned (open). */
  openJobIds: readonly string[];
  /** Jobs named by controller messages the agent has not acknowledged yet (it will get them now). */
  unacknowledgedJobIds: ReadonlySet<string>;
}

/** What to do about the jobs when an agent opens a session. */
export interface ResumeDecision {
  /** Why the job it resumes is cancelled; undefined when it may go on (or has ended already). */
  cancelResuming: string | undefined;
  /** Open jobs it no longer holds, to hand back to the scheduler. */
  handBack: string[];
}

/**
 * Decides, when an agent says Hello, which of its jobs go on, which it is told to cancel and which
 * are handed back. Pure.
 * - The job it resumes goes on when it is still assigned to it, or has ended with its outcome
 *   stored (only the ack was lost); any other (cancelled, handed elsewhere after the agent was
 *   declared lost, never its own) is cancelled explicitly, so it is not run for nothing.
 * - An open job it does not name and has not yet been sent (acknowledged) is one it came back
 *   without: handed back. The job it names is never handed back: a job that ended while the agent
 *   was away has its outcome among the events the agent resends; handing it back would drop that
 *   outcome and run the job a second time.
 */
export function decideResume(facts: ResumeFacts): ResumeDecision {
  const { agentId, resumingJobId, resumingJob: job } = facts;
  let cancelResuming: string | undefined;
  if (resumingJobId) {
    const ours = job?.agentId === agentId;
    const ended = ours && (job?.state === "finished" || job?.state === "failed");
    if (!ended && !(ours && job?.state === "assigned"))
      cancelResuming =
        job?.state === "lost"
          ? "the job was handed to another pod after this agent was declared lost"
          : "the job is not open on this agent";
  }
  const handBack = facts.openJobIds.filter(
    (jobId) => jobId !== resumingJobId && !facts.unacknowledgedJobIds.has(jobId),
  );
  return { cancelResuming, handBack };
}
