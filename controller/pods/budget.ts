import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** What the fleet may spend. */
export interface BudgetLimits {
  /** Most pods alive at once (every state but released/failed). */
  maxPods: number;
  /** Most a single pod may cost, USD per hour; a provider quoting more is refused. */
  maxPricePerHour: number;
  /** Longest a pod may live from request to release, milliseconds. */
  maxLifetimeMs: number;
  /** Longest a pod may sit verified or idle without work before it is released, milliseconds. */
  maxIdleMs: number;
}

/** Budget limits as options: every field optional, with defaults. */
export interface BudgetOptions {
  /** @default 1 */
  maxPods?: number;
  /** @default 40 (an 8x H200 pod rents for roughly USD 20-35 an hour) */
  maxPricePerHour?: number;
  /** @default 6 hours */
  maxLifetimeMs?: number;
  /** @default 10 minutes */
  maxIdleMs?: number;
}

/** Resolves and validates budget options; throws invalid-config naming every bad field. */
export function resolveBudget(options: BudgetOptions = {}): BudgetLimits {
  const limits: BudgetLimits = {
    maxPods: options.maxPods ?? 1,
    maxPricePerHour: options.maxPricePerHour ?? 40,
    maxLifetimeMs: options.maxLifetimeMs ?? 6 * 3_600_000,
    maxIdleMs: options.maxIdleMs ?? 10 * 60_000,
  };
  const problems: string[] = [];
  if (!Number.isInteger(limits.maxPods) || limits.maxPods < 1)
    problems.push(`maxPods must be an integer >= 1 (got ${limits.maxPods})`);
  for (const key of ["maxPricePerHour", "maxLifetimeMs", "maxIdleMs"] as const) {
    if (!Number.isFinite(limits[key]) || limits[key] <= 0)
      problems.push(`${key} must be a positive number (got ${limits[key]})`);
  }
  if (problems.length) throw new CacheonError("invalid-config", `pod budget: ${problems.join("; ")}`);
  return limits;
}

/** Throws resource-exhausted when one more pod would exceed `maxPods`. */
export function checkCanRequest(limits: BudgetLimits, livePods: number): void {
  if (livePods >= limits.maxPods) {
    throw new CacheonError(
      "resource-exhausted",
      `pod budget: ${livePods} pod(s) alive and at most ${limits.maxPods} allowed; wait for one to be released or raise maxPods`,
    );
  }
}

/** Throws resource-exhausted when a provider's quoted price is over the per-pod limit. */
export function checkPrice(limits: BudgetLimits, pricePerHour: number, what: string): void {
  if (pricePerHour > limits.maxPricePerHour) {
    throw new CacheonError(
      "resource-exhausted",
      `pod budget: ${what} costs USD ${pricePerHour}/h, over the limit of USD ${limits.maxPricePerHour}/h; choose a cheaper profile or raise maxPricePerHour`,
    );
  }
}

/** Cost in USD of holding a pod at `pricePerHour` from `startMs` to `endMs` (never negative). */
export function podCost(pricePerHour: number, startMs: number, endMs: number): number {
  return (pricePerHour * Math.max(0, endMs - startMs)) / 3_600_000;
}
