import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import Docker from "dockerode";
import { createPodJobExecutor } from "../../agent/job/run-pod-job.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { ChainClient } from "../chain/chain-client.ts";
import { loadHotkey } from "../chain/wallet.ts";
import { chainCommitmentSource } from "../intake/chain-commitment-source.ts";
import { type ArtefactSink, localFolderSink, s3Sink } from "../publish/artefact-sink.ts";
import {
  type ControllerCycleOptions,
  type CycleReport,
  runControllerCycle,
  serveLoop,
} from "../rounds/controller-cycle.ts";
import { createLocalJobRunner, type JobRunner } from "../rounds/job-runner.ts";
import type { RoundStep } from "../rounds/run-round.ts";
import { openStore } from "../store/controller-store.ts";
import { type LoopHealth, startWebServer, type WebServer } from "../web/web-server.ts";
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
  const { settings, logger, signal } = options;
  const store = openStore({ path: settings.storePath });
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
    const source = chainCommitmentSource({ client, netuid: settings.chain.netuid });
    const sink: ArtefactSink =
      settings.publish.target === "local"
        ? localFolderSink(settings.publish.folder)
        : s3Sink(settings.publish);
    let runner = options.runner;
    if (!runner && settings.agents.mode === "remote") {
      const { startRemoteAgents } = await import("../fleet-wiring/start-remote-agents.ts");
      const remote = await startRemoteAgents(settings, logger, signal);
      cleanups.push(remote.close);
      runner = remote.runner;
      controlPlaneUrl = remote.url;
    }
    runner ??= localRunner(settings, logger);
    const health: LoopHealth = { lastSuccessMs: 0, cycles: 0, failedCycles: 0 };
    if (settings.webListen)
      web = await startWebServer({
        store,
        listen: settings.webListen,
        logger,
        health: () => health,
        staleAfterMs: 3 * settings.intervalMs + 3_600_000,
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
      weightTarget: chainWeightTarget({
        client,
        netuid: settings.chain.netuid,
        signer,
        versionKey: settings.versionKey,
      }),
      weightPolicy: settings.weights,
      cadence: settings.cadence,
      onStep: options.onStep,
    };
    // Either loop succeeding shows the controller alive (a round may run for hours).
    const record = (report: unknown, error?: Error) => {
      health.cycles += 1;
      if (report) health.lastSuccessMs = Date.now();
      else {
        health.failedCycles += 1;
        health.lastError = error?.message;
      }
    };
    return {
      webUrl: web?.url,
      controlPlaneUrl,
      async cycle() {
        try {
          const report = await runControllerCycle(cycleOptions, signal);
          record(report);
          return report;
        } catch (error) {
          record(undefined, error as Error);
          throw error;
        }
      },
      serve: () =>
        serveLoop(
          {
            ...cycleOptions,
            intervalMs: settings.intervalMs,
            weightIntervalMs: settings.weightIntervalMs,
            onCycle: record,
            onWeights: record,
          },
          signal,
        ),
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

function localRunner(settings: ControllerSettings, logger: Logger): JobRunner {
  const docker = new Docker();
  const executor = createPodJobExecutor({
    docker,
    logger,
    hostGuard: "best-effort",
    limits: settings.agents.limits,
  });
  return createLocalJobRunner({
    pods: Object.fromEntries(settings.agents.localPods.map((name) => [name, executor])),
  });
}
