import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import {
  type CommitmentSnapshot,
  type IntakeSummary,
  ingestCommitments,
  type SubmissionParser,
} from "../intake/ingest-commitments.ts";
import type { ArtefactSink } from "../publish/artefact-sink.ts";
import { publishPendingRounds } from "../publish/publish-round.ts";
import type { RoundRow } from "../store/controller-store.ts";
import type { WeightPolicy } from "../weights/weight-policy.ts";
import {
  setWeightsIfDue,
  type WeightCadence,
  type WeightStepResult,
  type WeightTarget,
} from "../weights/weight-setter.ts";
import { type RoundEngineOptions, runRound } from "./run-round.ts";

/** What the controller reads from the chain besides weights. */
export interface CommitmentSource {
  /** Every registered hotkey's commitment at the latest finalized block. */
  snapshot(): Promise<CommitmentSnapshot>;
}

/** Everything one cycle needs. */
export interface ControllerCycleOptions extends RoundEngineOptions {
  source: CommitmentSource;
  parse?: SubmissionParser;
  sink: ArtefactSink;
  weightTarget: WeightTarget;
  weightPolicy: WeightPolicy;
  cadence?: WeightCadence;
}

/** What one cycle did. */
export interface CycleReport {
  intake: IntakeSummary;
  round: RoundRow | undefined;
  published: string[];
  weights: WeightStepResult;
}

/**
 * One pass of the controller: read commitments, run (or resume) a round for what is pending,
 * publish settled rounds, set weights when due. Each step records its outcome in the store, so a
 * pass cut short anywhere is completed by the next one. Weights are looked at first as well, so a
 * weight intent left by a stopped controller is settled before a long round starts.
 */
export async function runControllerCycle(
  options: ControllerCycleOptions,
  signal: AbortSignal,
): Promise<CycleReport> {
  const { store } = options;
  const weightStep = () =>
    setWeightsIfDue({
      store,
      target: options.weightTarget,
      policy: options.weightPolicy,
      cadence: options.cadence,
      logger: options.logger,
      signal,
    });
  await weightStep();
  await publishPendingRounds({ store, sink: options.sink });
  const intake = ingestCommitments({
    store,
    snapshot: await options.source.snapshot(),
    parse: options.parse,
    logger: options.logger,
  });
  const round = await runRound(options, signal);
  const published = await publishPendingRounds({ store, sink: options.sink });
  const weights = await weightStep();
  return { intake, round, published, weights };
}

/** Options of {@link serveLoop}. */
export interface ServeLoopOptions {
  /** Pause between cycles, ms. */
  intervalMs: number;
  logger?: Logger;
  /** Called after each cycle (for metrics and the web page). */
  onCycle?: (report: CycleReport | undefined, error?: CacheonError) => void;
}

/** Runs cycles until `signal` aborts; a failed cycle is logged and the next one tries again. */
export async function serveLoop(
  options: ControllerCycleOptions & ServeLoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const log = options.logger ?? silentLogger;
  while (!signal.aborted) {
    try {
      const report = await runControllerCycle(options, signal);
      log.info("cycle done", {
        pending: report.intake.pending.length,
        round: report.round?.id,
        published: report.published.length,
        weights: report.weights.action,
      });
      options.onCycle?.(report);
    } catch (error) {
      if (signal.aborted) break;
      const err = CacheonError.from(error);
      log.error("cycle failed; trying again after the interval", { error: err });
      options.onCycle?.(undefined, err);
    }
    try {
      await sleep(options.intervalMs, signal);
    } catch {
      break;
    }
  }
}
