import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { AgentEvent } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { SessionLimits } from "./session-limits.ts";

/** Where a session stands with respect to event sequence numbers. */
export interface SequenceState {
  /** Highest seq stored for the agent (across all its sessions). */
  storedSeq: number;
  /** Highest seq received in this session, 0 before the first. */
  sessionSeq: number;
}

/**
 * Classifies an incoming event's sequence number: "new" (the next one, to store), or
 * "duplicate" (stored before: a resend after reconnect, to ack and drop). Throws
 * CacheonError("invalid-argument") when seq does not increase within the session or skips ahead
 * (an event would be lost).
 */
export function classifySeq(seq: number, state: SequenceState): "new" | "duplicate" {
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new CacheonError("invalid-argument", `event seq must be a positive integer (got ${seq})`);
  }
  if (seq <= state.sessionSeq) {
    throw new CacheonError(
      "invalid-argument",
      `event seq ${seq} does not increase (previous in this session: ${state.sessionSeq}); sequence numbers must be strictly increasing`,
    );
  }
  if (seq <= state.storedSeq) return "duplicate";
  if (seq !== state.storedSeq + 1) {
    throw new CacheonError(
      "invalid-argument",
      `event seq ${seq} skips ahead of the last stored ${state.storedSeq}; resend from ${state.storedSeq + 1}`,
    );
  }
  return "new";
}

/** The job an event is about, "" for none (a status event while idle). */
export function eventJobId(event: AgentEvent): string {
  const p = event.payload;
  switch (p.case) {
    case "status":
      return p.value.jobId;
    case "progress":
    case "metrics":
    case "armFinished":
    case "log":
    case "artefact":
    case "artefactReady":
    case "jobFailed":
      return p.value.jobId;
    case "jobFinished":
      return p.value.result?.jobId ?? "";
    default:
      return "";
  }
}

/**
 * Checks an event's payload against the limits and the contract; throws
 * CacheonError("invalid-argument" or "resource-exhausted") naming the field.
 */
export function validateEventPayload(event: AgentEvent, limits: SessionLimits): void {
  const bad = (what: string) => new CacheonError("invalid-argument", `event ${event.seq}: ${what}`);
  const id = (name: string, value: string, required: boolean) => {
    if (required && value.length === 0) throw bad(`${name} is empty`);
    if (value.length > limits.maxIdLength)
      throw bad(`${name} is longer than ${limits.maxIdLength} characters`);
  };
  const text = (name: string, value: string) => {
    if (value.length > limits.maxTextLength)
      throw bad(`${name} is longer than ${limits.maxTextLength} characters`);
  };
  if (event.atUnixMs <= 0n) throw bad("at_unix_ms is not set");
  const p = event.payload;
  switch (p.case) {
    case undefined:
      throw bad("no payload; an event carries exactly one of status, progress, metrics, ...");
    case "status":
      id("status.job_id", p.value.jobId, false);
      return;
    case "progress":
      id("progress.job_id", p.value.jobId, true);
      id("progress.arm_id", p.value.armId, false);
      id("progress.phase", p.value.phase, false);
      text("progress.message", p.value.message);
      return;
    case "metrics":
      id("metrics.job_id", p.value.jobId, true);
      if (p.value.metrics.length > limits.maxMetricsPerBatch) {
        throw new CacheonError(
          "resource-exhausted",
          `event ${event.seq}: metrics batch of ${p.value.metrics.length} exceeds ${limits.maxMetricsPerBatch}; send smaller batches`,
        );
      }
      return;
    case "armFinished":
      id("arm_finished.job_id", p.value.jobId, true);
      if (!p.value.result) throw bad("arm_finished.result is not set");
      id("arm_finished.result.arm_id", p.value.result.armId, true);
      return;
    case "log": {
      id("log.job_id", p.value.jobId, true);
      const bytes = Buffer.byteLength(p.value.text, "utf8");
      if (bytes > limits.maxLogExcerptBytes) {
        throw new CacheonError(
          "resource-exhausted",
          `event ${event.seq}: log excerpt of ${bytes} bytes exceeds ${limits.maxLogExcerptBytes}; cut it and set truncated`,
        );
      }
      return;
    }
    case "artefact":
      id("artefact.job_id", p.value.jobId, true);
      id("artefact.name", p.value.name, true);
      if (!/^[0-9a-f]{64}$/.test(p.value.sha256))
        throw bad("artefact.sha256 is not 64 lowercase hex characters");
      return;
    case "artefactReady":
      id("artefact_ready.job_id", p.value.jobId, true);
      id("artefact_ready.name", p.value.name, true);
      if (!/^[0-9a-f]{64}$/.test(p.value.sha256))
        throw bad("artefact_ready.sha256 is not 64 lowercase hex characters");
      return;
    case "jobFinished":
      if (!p.value.result) throw bad("job_finished.result is not set");
      id("job_finished.result.job_id", p.value.result.jobId, true);
      return;
    case "jobFailed":
      id("job_failed.job_id", p.value.jobId, true);
      text("job_failed.reason", p.value.reason);
      return;
  }
}
