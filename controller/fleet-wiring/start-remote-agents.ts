import { readFile } from "node:fs/promises";
import { evidenceArtefactName } from "../../agent/job/job-evidence.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { ControllerSettings } from "../cli/controller-settings.ts";
import { ControlPlane } from "../control-plane/control-plane.ts";
import { startControlPlaneServer } from "../control-plane/control-plane-server.ts";
import { SqliteControlPlaneStore } from "../control-plane/control-plane-store.ts";
import { SqliteEventLog } from "../control-plane/event-log.ts";
import { S3UploadStorage } from "../control-plane/s3-upload-storage.ts";
import type { UploadRequest } from "../control-plane/upload-storage.ts";
import { artefactS3Client } from "../evidence/artefact-evidence-store.ts";
import type { LoopReporter } from "../health/loop-monitor.ts";
import { createBootReportHandler } from "../pods/boot-report-handler.ts";
import { renderCloudInit } from "../pods/cloud-init.ts";
import { createCommandProvider } from "../pods/command-provider.ts";
import { Fleet } from "../pods/fleet.ts";
import { runFleetLoop } from "../pods/fleet-loop.ts";
import type { PodDirectory } from "../pods/pod-identity.ts";
import { openSqlitePodLedger } from "../pods/pod-ledger.ts";
import type { PodProvider } from "../pods/pod-provider.ts";
import { createStaticProvider } from "../pods/static-provider.ts";
import { createControlPlaneJobRunner } from "../rounds/control-plane-job-runner.ts";
import { isIndependent } from "../rounds/is-independent.ts";
import type { JobRunner } from "../rounds/job-runner.ts";
import { parseListen } from "../web/web-server.ts";
import { connectFleet } from "./connect-fleet.ts";
import { fleetJobRunner } from "./fleet-job-runner.ts";
import { fleetPodDirectory } from "./fleet-pod-directory.ts";

/** What {@link startRemoteAgents} started. */
export interface RemoteAgents {
  runner: JobRunner;
  /** Where agents dial. */
  url: string;
  controlPlane: ControlPlane;
  /** The fleet, when pods.provider is not none. */
  fleet: Fleet | undefined;
  /** Identities of the remote pods (hosts, GPUs), for the round's independence rule. */
  pods: PodDirectory;
  /** Stops the fleet loop (returning every pod), the control plane and its server. */
  close(): Promise<void>;
}

/** Provider named by the settings, or undefined for "none". */
export function podProvider(settings: ControllerSettings, logger: Logger): PodProvider | undefined {
  const p = settings.pods.provider;
  if (p.kind === "command")
    return createCommandProvider({
      create: p.create,
      list: p.list,
      delete: p.delete,
      timeoutMs: p.timeoutMs,
      logger,
    });
  if (p.kind === "static") return createStaticProvider({ machines: p.machines });
  return undefined;
}

/** Upload targets of a job: a container log, request metrics and the evidence bundle per arm. */
export function armUploads(job: { arms: { armId: string }[] }, maxBytes: number): UploadRequest[] {
  return job.arms.flatMap((arm) => [
    { name: `arms/${arm.armId}/container.log`, maxBytes },
    { name: `arms/${arm.armId}/metrics.jsonl`, maxBytes },
    { name: evidenceArtefactName(arm.armId), maxBytes },
  ]);
}

/**
 * agents.mode remote: the control plane (its store shares the controller's SQLite file), the
 * boot report endpoint on the same port, raw artefact uploads when artefacts.target is s3, and
 * the fleet with its housekeeping loop when pods.provider is set.
 */
export async function startRemoteAgents(
  settings: ControllerSettings,
  logger: Logger,
  signal: AbortSignal,
  extras: {
    /** Registers the fleet's housekeeping loop for /healthz (called only when there is a fleet). */
    fleetLoop?: () => LoopReporter;
    /**
     * Whether a job sent before a restart is still wanted (the round store says it is running,
     * so the round resumes it); the others are cancelled on their agents. @default all wanted
     */
    jobWanted?: (jobId: string) => boolean;
  } = {},
): Promise<RemoteAgents> {
  const { listen, tlsCertFile, tlsKeyFile, allowPlaintext } = settings.controlPlane;
  const { host, port } = parseListen(listen, "controlPlane.listen");
  const tls = tlsCertFile
    ? { cert: await readFile(tlsCertFile), key: await readFile(tlsKeyFile) }
    : undefined;
  const a = settings.artefacts;
  const uploads =
    a.target === "s3"
      ? new S3UploadStorage({
          client: artefactS3Client(a),
          bucket: a.bucket,
          prefix: a.prefix,
        })
      : undefined;
  const store = new SqliteControlPlaneStore({ path: settings.storePath });
  const cp = settings.controlPlane;
  // Agents' events in a file of their own: nothing an agent sends lands in the store.
  const events = new SqliteEventLog({ path: cp.eventsPath });
  const controlPlane = new ControlPlane({
    store,
    events,
    retention: { maxAgeMs: cp.eventRetentionMs, maxBytes: cp.maxEventLogBytes },
    limits: cp.limits,
    uploadTtlMs: cp.uploadTtlMs,
    minAgentVersion: cp.minAgentVersion,
    logger,
    ...(uploads ? { uploads } : {}),
  });
  const provider = podProvider(settings, logger);
  const ledger = provider ? openSqlitePodLedger(settings.storePath) : undefined;
  let fleet: Fleet | undefined;
  let serverUrl = "";
  if (provider && ledger) {
    const pods = settings.pods;
    fleet = new Fleet({
      provider,
      ledger,
      tokens: { mint: async (podId, ttlMs) => controlPlane.mintEnrolmentToken(podId, ttlMs).token },
      userData: ({ podId, enrolmentToken }) =>
        renderCloudInit({
          podId,
          enrolmentToken,
          controllerUrl: pods.controllerUrl || serverUrl,
          bundleUrl: pods.bundleUrl,
          bundleSha256: pods.bundleSha256,
          hardwareProfile: pods.profile.name,
          ...(pods.bootReportUrl ? { bootReportUrl: pods.bootReportUrl } : {}),
        }),
      budget: pods.budget,
      timeouts: { ...pods.timeouts, jobMs: settings.rounds.jobTimeoutMs },
      onReschedule: ({ jobId, reason }) => {
        try {
          controlPlane.cancelJob(jobId, `its pod went away: ${reason}`);
        } catch {
          // unknown to the control plane: never sent
        }
      },
      onTransition: ({ podId, to }) => {
        if (to !== "released" && to !== "failed") return;
        const agentId = fleet?.get(podId).agentId;
        if (agentId) controlPlane.retireAgent(agentId);
      },
      logger,
    });
  }
  const loopStop = new AbortController();
  const stopLoop = () => loopStop.abort();
  signal.addEventListener("abort", stopLoop, { once: true });
  let loop: Promise<void> | undefined;
  let disconnect = () => {};
  let closeInner = () => {};
  try {
    // After a restart: jobs no round will wait for are cancelled, pods are adopted (before the
    // fleet is connected, so it judges and frees them), agents that never come back are lost.
    if (extras.jobWanted) {
      const cancelled = controlPlane.cancelUnwantedJobs(
        extras.jobWanted,
        "the controller restarted and no round waits for this job any more",
      );
      if (cancelled.length > 0) logger.info("cancelled jobs no round waits for", { jobs: cancelled });
    }
    await fleet?.adopt(signal);
    // The runner and the fleet listen before the server does: an agent that comes back the
    // moment it listens (a controller restart) must find them.
    const directory = fleetPodDirectory({ agents: store, ...(ledger ? { ledger } : {}), providers: 1 });
    const inner = createControlPlaneJobRunner(controlPlane, {
      ...(a.target === "s3" ? { uploads: (job) => armUploads(job, a.maxBytes) } : {}),
      directory,
      independent: isIndependent,
      logger,
    });
    closeInner = () => inner.close();
    let runner: JobRunner = inner;
    if (fleet && provider && ledger) {
      disconnect = connectFleet({ fleet, controlPlane, store, logger });
      runner = fleetJobRunner({
        runner: inner,
        fleet,
        profile: settings.pods.profile,
        directory,
        independent: isIndependent,
        notedHosts: () =>
          ledger
            .hostNotes()
            .filter((n) => n.provider === provider.name && n.host !== "")
            .map((n) => n.host),
        logger,
      });
    }
    controlPlane.watchAgentsWithOpenJobs();
    const bootReports = fleet ? createBootReportHandler({ fleet, logger }) : undefined;
    const server = await startControlPlaneServer({
      controlPlane,
      host,
      port,
      tls,
      allowPlaintext,
      logger,
      ...(bootReports ? { fallback: bootReports } : {}),
    });
    serverUrl = server.url;
    if (fleet) {
      loop = runFleetLoop({
        fleet,
        signal: loopStop.signal,
        intervalMs: settings.pods.tickMs,
        logger,
        ...(extras.fleetLoop ? { reporter: extras.fleetLoop() } : {}),
      });
    }
    logger.info("control plane listening", { url: server.url, fleet: provider?.name ?? "none" });
    return {
      runner,
      pods: directory,
      url: server.url,
      controlPlane,
      fleet,
      close: async () => {
        signal.removeEventListener("abort", stopLoop);
        loopStop.abort();
        await loop;
        disconnect();
        closeInner();
        controlPlane.close();
        await server.close();
        ledger?.close();
        store.close();
        events.close();
      },
    };
  } catch (error) {
    loopStop.abort();
    await loop;
    disconnect();
    closeInner();
    controlPlane.close();
    ledger?.close();
    store.close();
    events.close();
    throw error;
  }
}
