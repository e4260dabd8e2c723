import { CacheonError } from "../errors/cacheon-error.ts";

/** Options of the exponential backoff; every field optional, see {@link resolveBackoff}. */
export interface BackoffOptions {
  /** Delay before the first retry, milliseconds. @default 250 */
  initialDelayMs?: number;
  /** Largest delay, milliseconds (before jitter). @default 30000 */
  maxDelayMs?: number;
  /** Factor between consecutive delays. @default 2 */
  multiplier?: number;
  /**
   * Share of each delay that is random, 0..1. With 1 ("full jitter") the delay is uniform in
   * [0, d]; with 0.5 it is uniform in [d/2, d]. Jitter keeps a fleet of agents that lost the
   * controller at the same moment from reconnecting in lockstep. @default 0.5
   */
  jitter?: number;
  /** Source of randomness in [0, 1), for tests. @default Math.random */
  random?: () => number;
}

/** Backoff options with every default applied. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** Applies defaults and validates; throws CacheonError("invalid-config") on nonsense values. */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const resolved: ResolvedBackoff = {
    initialDelayMs: options.initialDelayMs ?? 250,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    multiplier: options.multiplier ?? 2,
    jitter: options.jitter ?? 0.5,
    random: options.random ?? Math.random,
  };
  const problems: string[] = [];
  if (!(resolved.initialDelayMs >= 0))
    problems.push(`initialDelayMs must be >= 0 (got ${resolved.initialDelayMs})`);
  if (!(resolved.maxDelayMs >= resolved.initialDelayMs)) {
    problems.push(
      `maxDelayMs must be >= initialDelayMs (got ${resolved.maxDelayMs} < ${resolved.initialDelayMs})`,
    );
  }
  if (!(resolved.multiplier >= 1)) problems.push(`multiplier must be >= 1 (got ${resolved.multiplier})`);
  if (!(resolved.jitter >= 0 && resolved.jitter <= 1))
    problems.push(`jitter must be in [0, 1] (got ${resolved.jitter})`);
  if (problems.length > 0)
    throw new CacheonError("invalid-config", `invalid backoff: ${problems.join("; ")}`);
  return resolved;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): min(max, initial x multiplier^attempt),
 * of which the `jitter` share is drawn at random. Pure apart from `random`.
 */
export function backoffDelay(attempt: number, backoff: ResolvedBackoff): number {
  const exponent = Math.max(0, Math.floor(attempt));
  const ceiling = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.multiplier ** exponent);
  const fixed = ceiling * (1 - backoff.jitter);
  return Math.round(fixed + backoff.random() * ceiling * backoff.jitter);
}

/** Waits `ms`, or rejects with CacheonError("cancelled") as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CacheonError("cancelled", "wait cancelled", { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CacheonError("cancelled", "wait cancelled", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
