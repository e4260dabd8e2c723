import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * What one long-running loop reports about itself. The loop calls these; it never reads them.
 * Every method is cheap and synchronous, so a loop can call them from anywhere (a round step, a
 * block the weight setter saw, a fleet tick).
 */
export interface LoopReporter {
  /** A pass began (a round cycle, a weight check, a fleet tick). */
  passStarted(): void;
  /**
   * The loop got somewhere inside a long pass (a job started or finished, an extrinsic was
   * included): it is alive even though the pass has not ended.
   */
  progressed(): void;
  /** A pass ended well. */
  passSucceeded(): void;
  /** A pass ended in an error; `error` is kept as the loop's last error. */
  passFailed(error: unknown): void;
}

/** Options of {@link LoopMonitor.register}. */
export interface LoopRegistration {
  /**
   * The loop is stuck when it has neither succeeded nor progressed for longer than this, ms.
   * 0 reports the loop without ever calling it stuck.
   */
  stuckAfterMs: number;
  /** A stuck critical loop makes the controller unhealthy (rounds, weights). @default true */
  critical?: boolean;
}

/** One loop's state, as /healthz shows it. */
export interface LoopStatus {
  name: string;
  critical: boolean;
  /** When a pass last succeeded, ms since the epoch; 0 before the first. */
  lastSuccessMs: number;
  /** When a pass last failed, ms since the epoch; 0 when none has. */
  lastErrorMs: number;
  /** Message of the last failure, cleared by nothing (read it with lastErrorMs). */
  lastError: string | undefined;
  /** When the pass under way began, ms since the epoch; 0 between passes. */
  passStartedMs: number;
  /** When the loop last progressed inside a pass, ms since the epoch; 0 before it did. */
  lastProgressMs: number;
  passes: number;
  failures: number;
  /** How long the loop has neither succeeded nor progressed (counted from registration at first), ms. */
  stuckForMs: number;
  /** The configured limit, ms; 0 when the loop is never called stuck. */
  stuckAfterMs: number;
  /** True when stuckForMs is beyond stuckAfterMs (and the limit is set). */
  stuck: boolean;
}

interface LoopEntry {
  name: string;
  critical: boolean;
  stuckAfterMs: number;
  registeredAtMs: number;
  lastSuccessMs: number;
  lastErrorMs: number;
  lastError: string | undefined;
  passStartedMs: number;
  lastProgressMs: number;
  passes: number;
  failures: number;
}

/**
 * The controller's loops and how they are doing, for /healthz and /metrics. Each loop registers
 * once and reports through its {@link LoopReporter}; {@link LoopMonitor.statuses} computes who is
 * stuck at the time of the question. A loop that fails every pass is stuck as surely as one that
 * hangs: errors are not progress.
 */
export class LoopMonitor {
  readonly #loops = new Map<string, LoopEntry>();
  readonly #now: () => number;

  /** `now`: clock, ms since the epoch (tests). @default Date.now */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Registers a loop under a unique name and returns what it reports through. */
  register(name: string, registration: LoopRegistration): LoopReporter {
    if (this.#loops.has(name))
      throw new CacheonError("failed-precondition", `a loop named "${name}" is registered already`);
    if (!(Number.isFinite(registration.stuckAfterMs) && registration.stuckAfterMs >= 0)) {
      throw new CacheonError(
        "invalid-config",
        `loop "${name}": stuckAfterMs must be a number >= 0 (got ${registration.stuckAfterMs})`,
      );
    }
    const entry: LoopEntry = {
      name,
      critical: registration.critical ?? true,
      stuckAfterMs: registration.stuckAfterMs,
      registeredAtMs: this.#now(),
      lastSuccessMs: 0,
      lastErrorMs: 0,
      lastError: undefined,
      passStartedMs: 0,
      lastProgressMs: 0,
      passes: 0,
      failures: 0,
    };
    this.#loops.set(name, entry);
    return {
      passStarted: () => {
        entry.passStartedMs = this.#now();
      },
      progressed: () => {
        entry.lastProgressMs = this.#now();
      },
      passSucceeded: () => {
        entry.passes += 1;
        entry.lastSuccessMs = this.#now();
        entry.passStartedMs = 0;
      },
      passFailed: (error) => {
        entry.passes += 1;
        entry.failures += 1;
        entry.lastErrorMs = this.#now();
        entry.lastError = error instanceof Error ? error.message : String(error);
        entry.passStartedMs = 0;
      },
    };
  }

  /** Every loop's state now, in registration order. */
  statuses(): LoopStatus[] {
    const now = this.#now();
    return [...this.#loops.values()].map((e) => loopStatus(e, now));
  }
}

/** A loop's status at `nowMs`. */
function loopStatus(entry: LoopEntry, nowMs: number): LoopStatus {
  const alive = Math.max(entry.registeredAtMs, entry.lastSuccessMs, entry.lastProgressMs);
  const stuckForMs = Math.max(0, nowMs - alive);
  return {
    name: entry.name,
    critical: entry.critical,
    lastSuccessMs: entry.lastSuccessMs,
    lastErrorMs: entry.lastErrorMs,
    lastError: entry.lastError,
    passStartedMs: entry.passStartedMs,
    lastProgressMs: entry.lastProgressMs,
    passes: entry.passes,
    failures: entry.failures,
    stuckForMs,
    stuckAfterMs: entry.stuckAfterMs,
    stuck: entry.stuckAfterMs > 0 && stuckForMs > entry.stuckAfterMs,
  };
}
