import { setTimeout as sleep } from "node:timers/promises";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { LoopReporter } from "../health/loop-monitor.ts";
import type { Fleet } from "./fleet.ts";

/** Options of {@link runFleetLoop}. */
export interface FleetLoopOptions {
  fleet: Fleet;
  /** Stops the loop; every pod is then released. */
  signal: AbortSignal;
  /** Time between housekeeping passes, milliseconds. @default 15000 */
  intervalMs?: number;
  /** @default silentLogger */
  logger?: Logger;
  /** Where each housekeeping pass is reported (/healthz). @default none */
  reporter?: LoopReporter;
}

/**
 * Runs the fleet's housekeeping (timeouts, budget, reconciliation with the provider) until
 * `signal` aborts, then releases every pod: the "return the machines" path runs even when the
 * controller is stopping.
 */
export async function runFleetLoop(options: FleetLoopOptions): Promise<void> {
  const logger = options.logger ?? silentLogger;
  const intervalMs = options.intervalMs ?? 15_000;
  try {
    while (!options.signal.aborted) {
      try {
        options.reporter?.passStarted();
        await options.fleet.tick(options.signal);
        options.reporter?.passSucceeded();
      } catch (error) {
        if (options.signal.aborted) break;
        logger.error("fleet housekeeping failed; retrying next interval", { error });
        options.reporter?.passFailed(error);
      }
      await sleep(intervalMs, undefined, { signal: options.signal }).catch(() => {});
    }
  } finally {
    // Deliberately not tied to the aborted signal: returning machines must finish.
    await options.fleet.shutdown("controller stopping");
  }
}
