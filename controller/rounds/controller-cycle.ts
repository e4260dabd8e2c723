import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import type { LoopReporter } from "../health/loop-monitor.ts";
import {
  type CommitmentSnapshot,
  type FeeCheck,
  type IntakeSummary,
  ingestCommitments,
  pendingTimelockedMetaKey,
  type SubmissionParser,
} from "../intake/ingest-commitments.ts";
import type { ArtefactSink } from "../publish/artefact-sink.ts";
import { publishedPolicy } from "../publish/leaderboard-document.ts";
import { publishLeaderboard } from "../publish/publish-leaderboard.ts";
import { publishPendingRounds } from "../publish/publish-round.ts";
import type { RoundRow } from "../store/round-table.ts";
import type { WeightPolicy } from "../weights/weight-policy.ts";
import {
  setWeightsIfDue,
  type WeightCadence,
  type WeightStepResult,
  type WeightTarget,
} from "../weights/weight-setter.ts";
import { publishedJobPrompts } from "./round-prompts.ts";
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
  /**
   * The submission fee check (controller/fees/fee-ledger.ts): read up to the snapshot's block
   * before intake, then asked for every new commitment. Without it no fee is required.
   */
  fees?: FeeCheck & { catchUp(upTo: number, signal?: AbortSignal): Promise<unknown> };
  sink: ArtefactSink;
  /** Where jobs' evidence bundles are kept (artefacts.*), published with their round. @default none */
  evidence?: EvidenceStore | undefined;
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
  const weightStep = () =>
    setWeightsIfDue({
      store: options.store,
      target: options.weightTarget,
      policy: options.weightPolicy,
      cadence: options.cadence,
      logger: options.logger,
      signal,
    });
  await weightStep();
  const pass = await runRoundPass(options, signal);
  return { ...pass, weights: await weightStep() };
}

/**
 * Intake, then a round for what is pending, then publication of settled rounds. Publication that
 * fails (storage down) is logged and retried on the next pass; it never holds rounds up.
 */
export async function runRoundPass(
  options: ControllerCycleOptions,
  signal: AbortSignal,
): Promise<RoundCycleReport> {
  const { store } = options;
  const log = options.logger ?? silentLogger;
  const publish = async (): Promise<string[]> => {
    try {
      return await publishPendingRounds({
        store,
        sink: options.sink,
        jobPrompts: publishedJobPrompts(options.settings.validatorSecret),
        policy: publishedPolicy(options.policy, options.weightPolicy),
        evidence: options.evidence,
      });
    } catch (error) {
      log.warn("publication failed; it is retried on the next pass", { error: CacheonError.from(error) });
      return [];
    }
  };
  const caughtUp = await publish();
  const snapshot = await options.source.snapshot();
  await options.fees?.catchUp(snapshot.block, signal);
  const sealedBefore = store.getMeta(pendingTimelockedMetaKey);
  const intake = ingestCommitments({
    store,
    snapshot,
    parse: options.parse,
    ...(options.fees ? { fees: options.fees } : {}),
    logger: options.logger,
  });
  // Miners look at the published leaderboard: show what intake decided (sealed, waiting, unpaid
  // with its reason, ...) now, not only after a round that may take hours.
  if (intakeChanged(intake) || store.getMeta(pendingTimelockedMetaKey) !== sealedBefore)
    await publishLeaderboard({
      store,
      sink: options.sink,
      policy: publishedPolicy(options.policy, options.weightPolicy),
    }).catch((error: unknown) =>
      log.warn("publishing the leaderboard failed; it is retried with the next change", {
        error: CacheonError.from(error),
      }),
    );
  const round = await runRound(options, signal);
  const published = [...caughtUp, ...(await publish())];
  return { intake, round, published };
}

/** Whether intake changed what miners see (a kept re-commit changes nothing). */
function intakeChanged(intake: IntakeSummary): boolean {
  const { pending, copies, malformed, superseded, deregistered, unpaid } = intake;
  return [pending, copies, malformed, superseded, deregistered, unpaid].some((list) => list.length > 0);
}

/** Options of {@link serveLoop}. */
export interface ServeLoopOptions {
  /** Pause between round cycles (intake, round, publication), ms. */
  intervalMs: number;
  /**
   * Pause between weight checks, ms. Weights run in their own loop so a round that takes hours
   * (72B servers start in minutes each) never delays a refresh. @default 60000
   */
  weightIntervalMs?: number;
  logger?: Logger;
  /** Called after each round cycle (for metrics and the web page). */
  onCycle?: (report: RoundCycleReport | undefined, error?: CacheonError) => void;
  /** Called after each weight check. */
  onWeights?: (result: WeightStepResult | undefined, error?: CacheonError) => void;
  /**
   * Where each loop reports its passes for /healthz (controller/health/loop-monitor.ts); every
   * step of a round counts as progress of the round loop. @default none
   */
  loops?: { rounds?: LoopReporter; weights?: LoopReporter };
}

/** What one round cycle did. */
export type RoundCycleReport = Omit<CycleReport, "weights">;

/**
 * Runs two loops until `signal` aborts, joined: the round loop (intake, round, publication every
 * `intervalMs`) and the weight loop (every `weightIntervalMs`). A failed pass is logged and the
 * next one tries again.
 */
export async function serveLoop(
  options: ControllerCycleOptions & ServeLoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const log = options.logger ?? silentLogger;
  const { store } = options;
  const roundsLoop = options.loops?.rounds;
  const roundOptions: ControllerCycleOptions = {
    ...options,
    onStep: (step) => {
      roundsLoop?.progressed();
      options.onStep?.(step);
    },
  };
  await Promise.all([
    repeat(
      "round cycle",
      options.intervalMs,
      roundsLoop,
      async () => {
        const report = await runRoundPass(roundOptions, signal);
        const { intake, round, published } = report;
        log.info("round cycle done", {
          pending: intake.pending.length,
          round: round?.id,
          published: published.length,
        });
        options.onCycle?.(report);
        return undefined;
      },
      (error) => options.onCycle?.(undefined, error),
    ),
    repeat(
      "weight check",
      options.weightIntervalMs ?? 60_000,
      options.loops?.weights,
      async () => {
        const result = await setWeightsIfDue({
          store,
          target: options.weightTarget,
          policy: options.weightPolicy,
          cadence: options.cadence,
          logger: options.logger,
          signal,
        });
        options.onWeights?.(result);
        // A refusal, or an extrinsic still in doubt, is no successful check: /healthz counts the
        // time since the last pass that set weights, confirmed them, or found nothing due.
        return result.action === "failed" || result.action === "waiting"
          ? `weights ${result.action}: ${result.reason}`
          : undefined;
      },
      (error) => options.onWeights?.(undefined, error),
    ),
  ]);

  async function repeat(
    what: string,
    intervalMs: number,
    reporter: LoopReporter | undefined,
    /** Resolves with why the pass did not settle anything (reported as a failed pass), or undefined. */
    pass: () => Promise<string | undefined>,
    onError: (error: CacheonError) => void,
  ): Promise<void> {
    while (!signal.aborted) {
      try {
        reporter?.passStarted();
        const unsettled = await pass();
        if (unsettled) reporter?.passFailed(new CacheonError("unavailable", unsettled));
        else reporter?.passSucceeded();
      } catch (error) {
        if (signal.aborted) break;
        const err = CacheonError.from(error);
        log.error(`${what} failed; trying again after the interval`, { error: err });
        reporter?.passFailed(err);
        onError(err);
      }
      try {
        await sleep(intervalMs, signal);
      } catch {
        break;
      }
    }
  }
}
