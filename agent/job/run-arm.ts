import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  JobProgressSchema,
  LogExcerptSchema,
  RequestMetricsBatchSchema,
} from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import type { ImageMetadata } from "../../shared/gen/cacheon/v1/image_pb.ts";
import { type Arm, ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { ArmOutcome, type ArmResult, ArmResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { PinnedImage } from "../../shared/image/image-reference.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { type ArmContainer, startArmContainer } from "../containers/arm-container.ts";
import {
  type ArmLimits,
  containerLabels,
  type GpuSelection,
  type NetworkMode,
} from "../containers/arm-container-spec.ts";
import { safeName } from "../containers/job-network.ts";
import { PodFault } from "../containers/pod-fault.ts";
import type { PullQueue } from "../containers/pull-queue.ts";
import { NotReadyError, waitForReady } from "../containers/wait-ready.ts";
import type { TimedSchedule } from "../workload/timed-schedule.ts";
import type { CheckGpusReleasedFn, GpuRelease } from "./check-gpus-released.ts";
import type { JobEventPayload } from "./job-executor.ts";
import type { ArmMeasurement, MeasureArm, WaitForGpuIdle } from "./pod-job-options.ts";
import type { OpenTimedWindow, TimedWindowFigures } from "./timed-window.ts";
import { isBaseline, pinnedImageOf } from "./validate-job.ts";

/** Largest log excerpt kept in an ArmResult, bytes (the LogExcerpt event carries up to 64 KiB). */
export const armLogExcerptBytes = 16 * 1024;

/** Everything one arm needs from the job. */
export interface RunArmInput {
  docker: Docker;
  /** Identity of the agent, labelled on the container so a restarted agent can find its leftovers. */
  owner: string;
  arm: Arm;
  jobId: string;
  roundSeed: string;
  workload: WorkloadSpec;
  /** The job's prompts and their order, when it carries them. */
  schedule?: TimedSchedule;
  profile: string;
  modelDir: string;
  network: NetworkMode;
  gpus: GpuSelection;
  limits?: ArmLimits;
  port: number;
  startupTimeoutS: number;
  stopGraceS: number;
  readyIntervalMs: number;
  maxFailedRequestFraction: number;
  pulls: PullQueue;
  /** Pulls an image again outside the queue (when it vanished after its first pull). */
  repull: (image: PinnedImage) => Promise<ImageMetadata>;
  measure: MeasureArm;
  waitForGpuIdle: WaitForGpuIdle;
  /**
   * Opens the arm's timed window around its measurement (pulls paused, GPU use sampled); closing it
   * gives the GPU figures and any finding they raise.
   */
  openTimedWindow: OpenTimedWindow;
  /** The check after the arm's container is removed: the GPUs must come free. */
  checkGpusReleased: CheckGpusReleasedFn;
  /** Keep the container running after the measurement (the closing baseline, for teacher forcing). */
  keepRunning: boolean;
  signal: AbortSignal;
  emit: (payload: JobEventPayload) => void;
  logger: Logger;
  now: () => number;
}

/** What an arm left behind: its result, its outputs for correctness, and a container still up when asked. */
export interface ArmRun {
  result: ArmResult;
  measurement?: ArmMeasurement;
  /** The container, only when keepRunning was set and the arm was measured; the caller tears it down. */
  container?: ArmContainer;
  /** True once a container was started (the GPUs must then be checked after its removal). */
  started?: boolean;
  /** The check after the container was removed; unset while it is still up, or when none ran. */
  gpuRelease?: GpuRelease;
}

/**
 * Runs one arm ({@link runArmInContainer}) and, once its container is gone, checks that it left
 * the GPUs free. An arm that left them held ends as GPU_FAULT whatever it measured; when they are
 * still held (no reset helped) `gpuRelease.released` is false and the job cannot go on here. A
 * kept container (the closing baseline) is checked by the caller after its teardown.
 */
export async function runArm(input: RunArmInput): Promise<ArmRun> {
  const run = await runArmInContainer(input);
  if (!run.started || run.container) return run;
  return applyGpuRelease(
    run,
    await input.checkGpusReleased({ armId: input.arm.armId, signal: input.signal }),
  );
}

/** Records the GPU check after an arm in its result: an arm that left the GPUs held is blamed. Pure. */
export function applyGpuRelease(run: ArmRun, release: GpuRelease): ArmRun {
  if (release.released && release.reset === "not-needed") return { ...run, gpuRelease: release };
  const before =
    run.result.outcome === ArmOutcome.MEASURED
      ? "it was measured"
      : `it ended ${enumName(ArmOutcome, run.result.outcome)}: ${run.result.reason}`;
  const held = release.left.length > 0 ? release.left.join("; ") : release.reasons.join("; ");
  run.result.outcome = ArmOutcome.GPU_FAULT;
  run.result.reason = `the arm left the GPUs held after its container was removed (${held}); ${
    release.released ? "a GPU reset freed them" : `still held: ${release.reasons.join("; ")}`
  } (before that, ${before})`;
  return { ...run, gpuRelease: release };
}

/**
 * Runs one arm in its container: wait for its image, wait for the GPUs to idle, start its
 * container, wait for readiness, measure in a timed window, then stop and remove it (in `finally`,
 * also when cancelled). Never throws for the arm's own failures: they end the arm with an outcome
 * and a reason. Throws CacheonError("cancelled") after cleaning up when the job is cancelled, and
 * a PodFault when the pod itself failed (its disk, its GPUs before the arm).
 */
async function runArmInContainer(input: RunArmInput): Promise<ArmRun> {
  const { arm, logger, emit } = input;
  const result = create(ArmResultSchema, {
    armId: arm.armId,
    exitCode: -1,
    startedAtUnixMs: BigInt(input.now()),
  });
  const progress = (phase: string, message: string, done = 0, total = 0) =>
    emit({
      case: "progress",
      value: create(JobProgressSchema, { jobId: input.jobId, armId: arm.armId, phase, done, total, message }),
    });
  const end = (outcome: ArmOutcome, reason: string): ArmRun => {
    result.outcome = outcome;
    result.reason = reason;
    result.finishedAtUnixMs = BigInt(input.now());
    return { result };
  };

  const parsed = pinnedImageOf(arm.image);
  if (!parsed.ok) return end(ArmOutcome.PULL_FAILED, parsed.error);
  progress("pull", `waiting for ${parsed.image.repository}@${parsed.image.digest.slice(0, 19)}`);
  let metadata: ImageMetadata;
  try {
    metadata = await input.pulls.get(parsed.image);
  } catch (error) {
    if (error instanceof PodFault) throw error;
    const err = CacheonError.from(error);
    if (input.signal.aborted) return end(ArmOutcome.CANCELLED, `cancelled while pulling: ${err.message}`);
    return end(ArmOutcome.PULL_FAILED, err.message);
  }
  result.image = metadata;

  let container: ArmContainer | undefined;
  let keep = false;
  let started = false;
  const withStarted = (run: ArmRun): ArmRun => ({ ...run, started });
  try {
    progress("gpu-idle", `waiting for idle GPUs before ${arm.armId}`);
    await input.waitForGpuIdle({ profile: input.profile, armId: arm.armId, signal: input.signal });
    // The image may have gone since it was pulled (the baseline runs twice; something else on the
    // machine may prune): pull it again by digest rather than fail the arm.
    let volumes: string[];
    try {
      volumes = volumesOf(await input.docker.getImage(metadata.configDigest).inspect());
    } catch {
      logger.warn("image vanished after its pull; pulling it again", { image: metadata.configDigest });
      try {
        metadata = await input.repull(parsed.image);
        result.image = metadata;
        volumes = volumesOf(await input.docker.getImage(metadata.configDigest).inspect());
      } catch (error) {
        return end(
          ArmOutcome.PULL_FAILED,
          `pulled, then removed, and the new pull failed: ${CacheonError.from(error).message}`,
        );
      }
    }
    progress("start", `starting ${arm.armId}`);
    try {
      container = await startArmContainer({
        docker: input.docker,
        ...containerInput(input, metadata, volumes),
        logger,
      });
    } catch (error) {
      return end(
        ArmOutcome.NEVER_READY,
        `the container could not start: ${CacheonError.from(error).message}`,
      );
    }
    const current = container;
    started = true;
    try {
      result.startupS = await waitForReady({
        endpoint: current.endpoint,
        timeoutMs: input.startupTimeoutS * 1000,
        model: input.workload.model,
        intervalMs: input.readyIntervalMs,
        isRunning: current.exitState,
        signal: input.signal,
      });
    } catch (error) {
      if (error instanceof NotReadyError && error.kind === "cancelled") throw error;
      return withStarted(end(ArmOutcome.NEVER_READY, CacheonError.from(error).message));
    }
    progress("measure", `measuring ${arm.armId}`);
    let measurement: ArmMeasurement;
    const window = await input.openTimedWindow({
      armId: arm.armId,
      containerId: current.id,
      signal: input.signal,
    });
    let figures: TimedWindowFigures = { findings: [] };
    try {
      measurement = await input.measure({
        endpoint: current.endpoint,
        armId: arm.armId,
        workload: input.workload,
        ...(input.schedule ? { schedule: input.schedule } : {}),
        roundSeed: input.roundSeed,
        signal: input.signal,
        logger,
        onRequest: (metrics) =>
          emit({
            case: "metrics",
            value: create(RequestMetricsBatchSchema, { jobId: input.jobId, metrics: [metrics] }),
          }),
        onProgress: (done, total) =>
          progress("measure", `${arm.armId}: ${done}/${total} requests`, done, total),
      });
    } catch (error) {
      if (input.signal.aborted) throw error;
      return withStarted(
        end(ArmOutcome.BROKEN_OUTPUT, `measurement failed: ${CacheonError.from(error).message}`),
      );
    } finally {
      figures = await window.close();
    }
    result.summary = measurement.summary;
    if (figures.gpuActivity) result.gpuActivity = figures.gpuActivity;
    measurement.summary.findings.push(...figures.findings);
    // A server that died mid-run fails its last requests a moment before the engine reports the
    // exit: give it a short while, so a crash is named a crash rather than broken output.
    let state = await current.exitState();
    for (let i = 0; i < 30 && state.running && measurement.summary.failed > 0; i++) {
      await sleep(100);
      state = await current.exitState();
    }
    if (!state.running) {
      return withStarted({
        ...end(
          ArmOutcome.CRASHED,
          `the container exited with code ${state.exitCode}${state.oomKilled ? " (killed for memory)" : ""} while being measured`,
        ),
        measurement,
      });
    }
    const { requests, failed } = measurement.summary;
    if (requests === 0 || failed / requests > input.maxFailedRequestFraction) {
      const codes = Object.entries(measurement.summary.failuresByCode)
        .map(([code, n]) => `${code} x${n}`)
        .join(", ");
      return withStarted({
        ...end(
          ArmOutcome.BROKEN_OUTPUT,
          `${failed} of ${requests} timed requests failed (${codes || "no detail"}); more than ${Math.round(input.maxFailedRequestFraction * 100)}% is too many to measure`,
        ),
        measurement,
      });
    }
    keep = input.keepRunning;
    result.outcome = ArmOutcome.MEASURED;
    result.finishedAtUnixMs = BigInt(input.now());
    return withStarted(keep ? { result, measurement, container: current } : { result, measurement });
  } catch (error) {
    if (input.signal.aborted) {
      end(ArmOutcome.CANCELLED, `cancelled: ${String(input.signal.reason ?? "aborted")}`);
      throw new CacheonError("cancelled", `job cancelled during arm ${arm.armId}`, { cause: error });
    }
    throw error;
  } finally {
    if (container && !keep) await finishContainer(container, result, input);
  }
}

/** Stops and removes an arm's container and records its exit state and log in the result. */
export async function finishContainer(
  container: ArmContainer,
  result: ArmResult,
  input: RunArmInput,
): Promise<void> {
  input.emit({
    case: "progress",
    value: create(JobProgressSchema, {
      jobId: input.jobId,
      armId: result.armId,
      phase: "teardown",
      message: "stopping",
    }),
  });
  const { exit, log } = await container.teardown(input.stopGraceS);
  result.exitCode = exit.exitCode;
  result.oomKilled = exit.oomKilled;
  const tail = Buffer.from(log.text);
  result.logExcerpt =
    tail.length > armLogExcerptBytes ? tail.subarray(tail.length - armLogExcerptBytes).toString() : log.text;
  input.emit({
    case: "log",
    value: create(LogExcerptSchema, {
      jobId: input.jobId,
      armId: result.armId,
      text: log.text,
      truncated: log.truncated,
    }),
  });
}

function containerInput(input: RunArmInput, metadata: ImageMetadata, imageVolumes: string[]) {
  const { arm } = input;
  return {
    // Run the exact image that was checked: its id, not a name that could be re-pointed.
    image: metadata.configDigest,
    name: `cacheon-${safeName(input.jobId)}-${safeName(arm.armId)}-${input.now().toString(36)}`,
    jobId: input.jobId,
    armId: arm.armId,
    network: input.network,
    gpus: input.gpus,
    modelDir: input.modelDir || undefined,
    limits: input.limits,
    port: input.port,
    cmd: arm.cmd,
    args: arm.args,
    env: Object.entries(arm.env)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`),
    writableDirs: arm.writableDirs.map((d) => ({ path: d.path, sizeBytes: Number(d.sizeBytes) })),
    imageVolumes,
    labels: { "cacheon.role": enumName(ArmRole, arm.role), [containerLabels.agent]: input.owner },
  };
}

/** The VOLUME paths an image's config declares. */
function volumesOf(info: Docker.ImageInspectInfo): string[] {
  return Object.keys((info.Config?.Volumes as Record<string, unknown> | null | undefined) ?? {});
}

/** The start-up timeout of an arm: its own, else the baseline or challenger default. */
export function startupTimeoutOf(arm: Arm, defaults: { baseline: number; challenger: number }): number {
  if (arm.startupTimeoutS > 0) return arm.startupTimeoutS;
  return isBaseline(arm.role) ? defaults.baseline : defaults.challenger;
}

/** The name of a generated enum's value, e.g. enumName(ArmOutcome, 3) === "NEVER_READY". */
export function enumName(values: Record<string, number>, value: number): string {
  return Object.entries(values).find(([, v]) => v === value)?.[0] ?? String(value);
}
