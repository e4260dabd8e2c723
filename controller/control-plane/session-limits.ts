import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** Limits on one agent session; every field optional, see {@link resolveSessionLimits}. */
export interface SessionLimitOptions {
  /**
   * Largest encoded message either way, bytes. Larger incoming messages end the session with
   * RESOURCE_EXHAUSTED before they are parsed. @default 4194304 (4 MiB)
   */
  maxMessageBytes?: number;
  /**
   * Sustained incoming messages per second per agent (across its sessions: reconnecting does
   * not refill it). Above it the controller stops reading the stream (HTTP/2 flow control pushes
   * back on the agent) instead of dropping anything. @default 1000
   */
  messagesPerSecond?: number;
  /** Messages an agent may send in a burst above the sustained rate (a resend after reconnect). @default 20000 */
  messageBurst?: number;
  /** Sustained event bytes per second per agent (as stored, plus unknown fields); above it, reading pauses. @default 1048576 (1 MiB) */
  eventBytesPerSecond?: number;
  /** Event bytes an agent may send in a burst above the sustained rate. @default 67108864 (64 MiB) */
  eventByteBurst?: number;
  /**
   * Most bytes of an agent's events kept in the event log (within its retention). Above it,
   * its events are acknowledged but not stored, except those that move a job or an artefact on.
   * @default 268435456 (256 MiB)
   */
  maxStoredEventBytesPerAgent?: number;
  /** Largest log excerpt text, bytes (the contract says 64 KiB). @default 65536 */
  maxLogExcerptBytes?: number;
  /** Most per-request measurements in one metrics batch. @default 4096 */
  maxMetricsPerBatch?: number;
  /**
   * Most events in one AgentEventBatch (told to the agent in its Welcome). Each event of a batch
   * counts as a message against messagesPerSecond. @default 1024
   */
  maxEventsPerBatch?: number;
  /** Longest identifier (job, arm, artefact name), characters. @default 256 */
  maxIdLength?: number;
  /** Longest free-text field (progress message, failure reason), characters. @default 8192 */
  maxTextLength?: number;
}

/** Session limits with defaults applied. */
export type SessionLimits = Required<SessionLimitOptions>;

/** Applies defaults; throws CacheonError("invalid-config") for values that are not positive. */
export function resolveSessionLimits(options: SessionLimitOptions = {}): SessionLimits {
  const limits: SessionLimits = {
    maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
    messagesPerSecond: options.messagesPerSecond ?? 1000,
    messageBurst: options.messageBurst ?? 20_000,
    eventBytesPerSecond: options.eventBytesPerSecond ?? 1024 * 1024,
    eventByteBurst: options.eventByteBurst ?? 64 * 1024 * 1024,
    maxStoredEventBytesPerAgent: options.maxStoredEventBytesPerAgent ?? 256 * 1024 * 1024,
    maxLogExcerptBytes: options.maxLogExcerptBytes ?? 64 * 1024,
    maxMetricsPerBatch: options.maxMetricsPerBatch ?? 4096,
    maxEventsPerBatch: options.maxEventsPerBatch ?? 1024,
    maxIdLength: options.maxIdLength ?? 256,
    maxTextLength: options.maxTextLength ?? 8192,
  };
  const bad = Object.entries(limits).filter(([, v]) => !(Number.isFinite(v) && v > 0));
  if (bad.length > 0) {
    throw new CacheonError(
      "invalid-config",
      `session limits must be positive numbers: ${bad.map(([k, v]) => `${k}=${v}`).join(", ")}`,
    );
  }
  return limits;
}
