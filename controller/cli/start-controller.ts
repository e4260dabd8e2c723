import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import Docker from "dockerode";
import { createPodJobExecutor } from "../../agent/job/run-pod-job.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { loadHotkey } from "../chain/wallet.ts";
import { artefactEvidenceStore } from "../evidence/artefact-evidence-store.ts";
import type { EvidenceStore } from "../evidence/evidence-store.ts";
import { chainBlockSource, FeeLedger } from "../fees/fee-ledger.ts";
import { LoopMonitor } from "../health/loop-monitor.ts";
import { chainCommitmentSource } from "../intake/chain-commitment-source.ts";
import { type ControllerMetrics, createControllerMetrics } from "../metrics/controller-metrics.ts";
import { type ArtefactSink, localFolderSink, s3Sink } from "../publish/artefact-sink.ts";
import { publishedPolicy } from "../publish/leaderboard-document.ts";
import {
  type ControllerCycleOptions,
  type CycleReport,
  runControllerCycle,
  serveLoop,
} from "../rounds/controller-cycle.ts";
import { createLocalJobRunner, type JobRunner } from "../rounds/job-runner.ts";
import type { RoundStep } from "../rounds/run-round.ts";
import { openStore } from "../store/controller-store.ts";
import { describeHolder } from "../store/store-lock.ts";
import { startWebServer, type WebServer } from "../web/web-server.ts";
import { chainWeightTarget } from "../weights/chain-weight-target.ts";
import type { ControllerSettings } from "./controller-settings.ts";

/** Options of {@link startController}. */
export interface StartControllerOptions {
  settings: ControllerSettings;
  logger: Logger;
  signal: AbortSignal;
  /** Replaces the local Docker agents (tests, or the control plane runner). */
  runner?: JobRunner;
  /** Called at each step of a round (progress output). */
  onStep?: (step: RoundStep) => void;
}

/** A wired controller: store, chain, runner, publication and web page. */
export interface RunningController {
  webUrl: string | undefined;
  /** The loops' health, as /healthz reports it. */
  loops: LoopMonitor;
  /** The Prometheus registry /metrics prints; add metrics to `metrics.registry`. */
  metrics: ControllerMetrics;
  /** Where remote agents dial (agents.mode remote). */
  controlPlaneUrl: string | undefined;
  /** One cycle now. */
  cycle(): Promise<CycleReport>;
  /** Cycles until the signal aborts. */
  serve(): Promise<void>;
  close(): Promise<void>;
}

/** Opens the store, connects the chain, loads the validator key and starts the web page. */
export async function startController(options: StartControllerOptions): Promise<RunningController> {
  const { settings, logger } = options;
  // Losing the store's lock (another controller took it over, presuming this one dead) stops
  // everything this controller runs: two writers on one store would set weights twice.
  const lockLost = new AbortController();
  const signal = AbortSignal.any([options.signal, lockLost.signal]);
  const store = openStore({
    path: settings.storePath,
    lock: {
      owner: "serve",
      onLost: (error) => {
        logger.error("store lock lost; stopping", { error });
        lockLost.abort(error);
      },
    },
  });
  if (store.lock?.takenOver) {
    logger.warn("took over the store lock of a controller that is gone", {
      from: describeHolder(store.lock.takenOver.from),
      why: store.lock.takenOver.why,
    });
  }
  let client: ChainClient | undefined;
  let web: WebServer | undefined;
  let controlPlaneUrl: string | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    await web?.close();
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
    await client?.close().catch(() => {});
    store.close();
  };
  try {
    client = await ChainClient.connect({ endpoints: settings.chain.endpoints, logger });
    const signer = await loadSigner(settings);
    const source = chainCommitmentSource({
      client,
      netuid: settings.chain.netuid,
      cursors: store.chainCursors,
    });
    const sink: ArtefactSink =
      settings.publish.target === "local"
        ? localFolderSink(settings.publish.folder)
        : s3Sink(settings.publish);
    const loops = new LoopMonitor();
    const roundsLoop = loops.register("rounds", { stuckAfterMs: settings.health.roundsStuckMs });
    const weightsLoop = loops.register("weights", { stuckAfterMs: settings.health.weightsStuckMs });
    const metrics = createControllerMetrics({ store, loops: () => loops.statuses() });
    let runner = options.runner;
    if (!runner && settings.agents.mode === "remote") {
      const { startRemoteAgents } = await import("../fleet-wiring/start-remote-agents.ts");
      const remote = await startRemoteAgents(settings, logger, signal, {
        fleetLoop: () =>
          loops.register("fleet", { stuckAfterMs: settings.health.fleetStuckMs, critical: false }),
      });
      cleanups.push(remote.close);
      const stopEvents = remote.controlPlane.addListener({
        event: (agentId, event) => metrics.observeAgentEvent(agentId, event),
      });
      cleanups.push(async () => void stopEvents());
      const fleet = remote.fleet;
      if (fleet) metrics.watchPods(() => fleet.pods());
      runner = remote.runner;
      controlPlaneUrl = remote.url;
    }
    const evidence = artefactEvidenceStore(settings.artefacts);
    runner ??= localRunner(settings, logger, evidence);
    if (settings.webListen)
      web = await startWebServer({
        store,
        listen: settings.webListen,
        logger,
        loops: () => loops.statuses(),
        metrics,
        policy: publishedPolicy(settings.scoring, settings.weights),
      });
    const cycleOptions: ControllerCycleOptions = {
      store,
      runner,
      settings: settings.rounds,
      policy: settings.scoring,
      copyPolicy: settings.copies,
      finalizedHead: () => source.finalizedHead(),
      logger,
      source,
      sink,
      evidence,
      weightTarget: chainWeightTarget({
        client,
        netuid: settings.chain.netuid,
        signer,
        versionKey: settings.versionKey,
        commits: store.weightCommits,
        commitReveal: settings.chain.commitReveal,
        beacon: settings.chain.drand,
        blockSeconds: settings.chain.blockSeconds,
        submit: settings.chain.submit,
        logger,
      }),
      weightPolicy: settings.weights,
      ...(settings.fees
        ? {
            fees: new FeeLedger({
              source: chainBlockSource(client.api),
              store,
              policy: settings.fees,
              netuid: settings.chain.netuid,
              startBlock: settings.fees.startBlock,
              logger,
            }),
          }
        : {}),
      cadence: settings.cadence,
      onStep: (step) => {
        metrics.observeRoundStep(step);
        options.onStep?.(step);
      },
    };
    return {
      webUrl: web?.url,
      loops,
      metrics,
      controlPlaneUrl,
      async cycle() {
        // One cycle runs both: each loop's status records it.
        roundsLoop.passStarted();
        weightsLoop.passStarted();
        try {
          const report = await runControllerCycle(
            { ...cycleOptions, onStep: (step) => (roundsLoop.progressed(), cycleOptions.onStep?.(step)) },
            signal,
          );
          roundsLoop.passSucceeded();
          weightsLoop.passSucceeded();
          return report;
        } catch (error) {
          roundsLoop.passFailed(error);
          weightsLoop.passFailed(error);
          throw error;
        }
      },
      async serve() {
        await serveLoop(
          {
            ...cycleOptions,
            intervalMs: settings.intervalMs,
            weightIntervalMs: settings.weightIntervalMs,
            loops: { rounds: roundsLoop, weights: weightsLoop },
          },
          signal,
        );
        if (lockLost.signal.aborted) throw lockLost.signal.reason;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function loadSigner(settings: ControllerSettings): Promise<KeyringPair> {
  if (settings.wallet.devUri) {
    await cryptoWaitReady();
    return new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(settings.wallet.devUri);
  }
  return loadHotkey({
    wallet: settings.wallet.name,
    hotkey: settings.wallet.hotkey,
    walletPath: settings.wallet.path || undefined,
  });
}

function localRunner(
  settings: ControllerSettings,
  logger: Logger,
  evidence: EvidenceStore | undefined,
): JobRunner {
  const docker = new Docker();
  const executor = createPodJobExecutor({
    docker,
    logger,
    hostGuard: "best-effort",
    limits: settings.agents.limits,
  });
  return createLocalJobRunner({
    pods: Object.fromEntries(settings.agents.localPods.map((name) => [name, executor])),
    ...(evidence
      ? {
          keep: (jobId: string, name: string, body: Uint8Array) =>
            evidence.keep(jobId, name, body).catch((error: unknown) => {
              logger.warn("an artefact was not kept; its round will list it missing", {
                jobId,
                name,
                error: CacheonError.from(error),
              });
            }),
        }
      : {}),
  });
}
