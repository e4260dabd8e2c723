import type { AgentEvent } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";

/** A phase of a job on an agent that ended, and how long it lasted by the agent's clock. */
export interface EndedPhase {
  phase: string;
  seconds: number;
}

/** Options of {@link AgentPhaseClock}. */
export interface AgentPhaseClockOptions {
  /**
   * Jobs tracked at once; the oldest is forgotten beyond it (an agent lost mid-job never sends
   * its end). @default 1000
   */
  maxJobs?: number;
}

/**
 * Times the phases of jobs on agents ("pull", "start", "warmup", "measure", ...) from their
 * progress events: a phase lasts from its first progress event to the first event of the next
 * phase (or of another arm), or to the job's end. Durations use the agent's own clock (`atUnixMs`), so the
 * controller's distance from the pod does not enter them. Plain data in, durations out.
 */
export class AgentPhaseClock {
  readonly #open = new Map<string, { armId: string; phase: string; sinceMs: number }>();
  readonly #maxJobs: number;

  constructor(options: AgentPhaseClockOptions = {}) {
    this.#maxJobs = options.maxJobs ?? 1000;
  }

  /** Feeds one stored event; returns the phases it ended (none, or one). */
  observe(agentId: string, event: AgentEvent): EndedPhase[] {
    const at = Number(event.atUnixMs);
    const p = event.payload;
    if (p.case === "progress") {
      const key = `${agentId}/${p.value.jobId}`;
      const open = this.#open.get(key);
      // Arms run one after another: the next arm's first event ends the last arm's phase.
      if (open?.phase === p.value.phase && open.armId === p.value.armId) return [];
      const ended = open ? [endedPhase(open, at)] : [];
      this.#open.delete(key);
      if (p.value.phase !== "") {
        this.#open.set(key, { armId: p.value.armId, phase: p.value.phase, sinceMs: at });
        if (this.#open.size > this.#maxJobs) this.#open.delete(this.#open.keys().next().value as string);
      }
      return ended;
    }
    if (p.case === "jobFinished" || p.case === "jobFailed") {
      const jobId = p.case === "jobFinished" ? p.value.result?.jobId : p.value.jobId;
      const key = `${agentId}/${jobId ?? ""}`;
      const open = this.#open.get(key);
      this.#open.delete(key);
      return open ? [endedPhase(open, at)] : [];
    }
    return [];
  }

  /** Jobs with a phase open now. */
  get openJobs(): number {
    return this.#open.size;
  }
}

function endedPhase(open: { phase: string; sinceMs: number }, atMs: number): EndedPhase {
  // An agent clock stepping back gives 0, not a negative duration.
  return { phase: open.phase, seconds: Math.max(0, atMs - open.sinceMs) / 1000 };
}
