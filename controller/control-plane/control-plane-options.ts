import type { AgentEvent, AgentState, JobFailed } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { JobResult } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { ControlPlaneStore } from "./control-plane-store.ts";
import type { AgentEventLog } from "./event-log.ts";
import type { SessionLimitOptions } from "./session-limits.ts";
import type { UploadStorage, UploadVerification } from "./upload-storage.ts";

/** How long agents' events are kept, and how much of them. */
export interface EventRetentionOptions {
  /** Events older than this are deleted, ms. @default 14 days */
  maxAgeMs?: number;
  /** The event log is cut to this many bytes, oldest first. @default 4 GiB */
  maxBytes?: number;
  /** How often retention runs, ms. @default 10 minutes */
  everyMs?: number;
}

/** Callbacks a scheduler registers with {@link ControlPlane.addListener}; each is optional. */
export interface ControlPlaneListener {
  /** A new (never seen before) event was stored. Not called for duplicates. */
  event(agentId: string, event: AgentEvent): void;
  /** An agent reported a job's final result. */
  jobFinished(agentId: string, result: JobResult): void;
  /** An agent reported that it could not run a job. */
  jobFailed(agentId: string, failure: JobFailed): void;
  /**
   * An agent was silent past the heartbeat deadline with no live session; `jobIds` are its open
   * jobs, now handed back (also reported through jobsReturned).
   */
  agentLost(agentId: string, jobIds: string[]): void;
  /**
   * Open jobs of an agent go back to the scheduler, to be retried elsewhere: after the agent was
   * lost, or when it came back (restarted) without a job it had acknowledged.
   */
  jobsReturned(agentId: string, jobIds: string[], reason: string): void;
  /** An uploaded artefact was checked against what the agent reported. */
  artefactVerified(agentId: string, verification: UploadVerification): void;
  /** A session opened or closed (for dashboards). */
  sessionChanged(agentId: string, connected: boolean): void;
}

/** Options of {@link ControlPlane}. */
export interface ControlPlaneOptions {
  /** Persistence (tokens, agents, messages to agents, jobs, artefacts), in the controller's store file. */
  store: ControlPlaneStore;
  /**
   * Where agents' events go: a file of its own, so nothing an agent sends can fill the store
   * that holds rounds and weights. @default an in-memory log (tests)
   */
  events?: AgentEventLog;
  /** Retention of the event log. */
  retention?: EventRetentionOptions;
  /** @default silentLogger */
  logger?: Logger;
  /** How often each side sends a heartbeat, ms. @default 5000 */
  heartbeatIntervalMs?: number;
  /**
   * A side that hears nothing for this long considers the other gone, ms. A session silent this
   * long is ended with DEADLINE_EXCEEDED; an agent with no live session this long after its last
   * message is declared lost. @default 20000
   */
  heartbeatDeadlineMs?: number;
  /** Per-session limits. */
  limits?: SessionLimitOptions;
  /** Grants and verifies per-artefact upload URLs; without it jobs get no upload targets. */
  uploads?: UploadStorage;
  /**
   * Lifetime of a granted upload URL, ms. URLs are granted when the agent announces the bytes
   * (ArtefactReady), so minutes suffice however long the job ran. @default 10 minutes
   */
  uploadTtlMs?: number;
  /**
   * Lowest agent version (semver, build metadata ignored) allowed to enrol or open a session: an
   * older agent, or one that reports no version, is refused with FAILED_PRECONDITION and told to
   * update. @default "" (any)
   */
  minAgentVersion?: string;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
}

/** An agent with a live session. */
export interface ConnectedAgent {
  agentId: string;
  podId: string;
  agentVersion: string;
  connectedAtUnixMs: number;
  lastSeenUnixMs: number;
  /** Last state the agent reported in a heartbeat. */
  state: AgentState;
  /** Jobs assigned to it and not yet finished, failed, cancelled or lost. */
  openJobIds: string[];
}

/** Counters of one control plane, for tests, benchmarks and metrics. */
export interface ControlPlaneStats {
  eventsStored: number;
  duplicatesDropped: number;
  sessionsOpened: number;
  sessionsRefused: number;
  /** Milliseconds sessions spent paused by the message or byte rate limits. */
  throttledMs: number;
  /** Events accepted (acknowledged) but not stored: their agent was over its stored-bytes quota. */
  eventsOverQuota: number;
  /** Bytes of unknown protobuf fields dropped from events before storing. */
  unknownBytesDropped: number;
  /** Artefact checks run against storage (one per artefact at most). */
  artefactsChecked: number;
}
