import { create } from "@bufbuild/protobuf";
import { compareOutputs, type TeacherForcedScore } from "../../shared/correctness/compare-outputs.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmFinishedSchema, JobProgressSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { type HardwareReport, HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { ArmRole, type EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  ArmOutcome,
  type ArmResult,
  ArmResultSchema,
  type JobResult,
  JobResultSchema,
} from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { PinnedImage } from "../../shared/image/image-reference.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { runWorkload } from "../bench/run-workload.ts";
import type { GpuSelection, NetworkMode } from "../containers/arm-container-spec.ts";
import { createJobNetwork, type JobNetwork, removeJobObjects } from "../containers/job-network.ts";
import { pullImage } from "../containers/pull-image.ts";
import { createPullQueue } from "../containers/pull-queue.ts";
import type { JobContext, JobExecutor } from "./job-executor.ts";
import type { ArmMeasurement, MeasureArm, PodJobOptions, VerifyHardware } from "./pod-job-options.ts";
import {
  type ArmRun,
  enumName,
  finishContainer,
  type RunArmInput,
  runArm,
  startupTimeoutOf,
} from "./run-arm.ts";
import { pinnedImageOf, validateJob } from "./validate-job.ts";

/** The JobExecutor the session layer calls: {@link runPodJob} with fixed options. */
export function createPodJobExecutor(options: PodJobOptions): JobExecutor {
  return (job, context) => runPodJob(job, context, options);
}

/**
 * Runs one evaluation job on this machine: verify hardware, pull every image by digest (the next
 * arm's in the background while the current one runs), run each arm in the job's order in its
 * own isolated container (warm-up, then the timed workload repeated), judge every arm's outputs
 * against the opening baseline's, score them by teacher forcing on the closing baseline (whose
 * container is kept up after its own measurement for that, rather than restarted: a 72B server
 * takes minutes to start), and return the result. One arm's failure ends that arm with a reason;
 * the job goes on. Never throws: an invalid job, failed hardware or cancellation give a result
 * with `completed` false and the reason. Containers and the job's network are removed in
 * `finally`, also on cancellation.
 */
export async function runPodJob(
  job: EvaluationJob,
  context: JobContext,
  options: PodJobOptions,
): Promise<JobResult> {
  const now = options.now ?? Date.now;
  const logger = (options.logger ?? silentLogger).child({ job: job.jobId });
  const { docker } = options;
  const { signal } = context;
  const emit: JobContext["emit"] = (payload) => {
    try {
      context.emit(payload);
    } catch (error) {
      logger.warn("emit threw; event dropped", { error: error as Error });
    }
  };
  const networkMode = options.networkMode ?? "internal";
  const result = create(JobResultSchema, {
    jobId: job.jobId,
    networkMode,
    startedAtUnixMs: BigInt(now()),
  });
  const finish = (completed: boolean, reason: string): JobResult => {
    result.completed = completed;
    result.reason = reason;
    result.finishedAtUnixMs = BigInt(now());
    return result;
  };
  const progress = (phase: string, message: string, done = 0, total = 0) =>
    emit({
      case: "progress",
      value: create(JobProgressSchema, { jobId: job.jobId, phase, done, total, message }),
    });

  const problems = validateJob(job);
  if (problems.length > 0) return finish(false, `invalid job: ${problems.join("; ")}`);
  const workload = job.workload;
  if (!workload) return finish(false, "invalid job: workload is missing");

  let network: JobNetwork | undefined;
  const runs = new Map<string, ArmRun>();
  const kept: Array<{ run: ArmRun; input: RunArmInput }> = [];
  const pulled = new Set<string>();
  try {
    // Leftovers of an earlier agent run of this job would hold names and GPUs.
    await removeJobObjects({ docker, jobId: job.jobId, logger });

    progress("verify", `checking hardware against profile "${job.hardwareProfile || "none"}"`);
    const profile = job.hardwareProfile || "none";
    const verify = options.verifyHardware ?? defaultVerifyHardware(options);
    let hardware: HardwareReport;
    try {
      hardware = await verify({ profile, signal });
    } catch (error) {
      return finish(false, `hardware verification failed: ${CacheonError.from(error).message}`);
    }
    result.hardware = hardware;
    if (!hardware.ok) {
      const rules = hardware.failures.map((f) => `${f.rule} (${f.subject}): ${f.detail}`).join("; ");
      return finish(false, `hardware verification failed: ${rules || "profile not met"}`);
    }

    let mode: NetworkMode;
    if (networkMode === "host") {
      mode = { kind: "host" };
    } else {
      network = await createJobNetwork({ docker, jobId: job.jobId, hostGuard: options.hostGuard, logger });
      mode = { kind: "internal", network: network.name };
      if (!network.hostGuarded) result.networkMode = "internal (host services reachable: no firewall rule)";
    }

    const pullOne = async (image: PinnedImage, pullSignal: AbortSignal) => {
      const metadata = await pullImage({
        docker,
        image,
        maxBytes: options.maxImageBytes,
        minFreeBytes: options.minFreeBytes,
        auth: options.registryAuth,
        signal: pullSignal,
        logger,
      });
      if (metadata.pullSeconds > 0) pulled.add(metadata.configDigest);
      return metadata;
    };
    const pulls = createPullQueue({ concurrency: options.pullConcurrency, signal, pull: pullOne });
    const lookahead = Math.max(0, options.pullLookahead ?? 1);
    const imageOf = (i: number) => {
      const parsed = pinnedImageOf(job.arms[i]?.image);
      return parsed.ok ? [parsed.image] : [];
    };
    const gpus: GpuSelection = options.gpus ?? (profile === "none" ? "none" : "all");
    const measure = options.measure ?? defaultMeasure;
    const closingIndex = job.arms.findLastIndex((a) => a.role === ArmRole.CLOSING_BASELINE);

    for (const [i, arm] of job.arms.entries()) {
      if (signal.aborted) break;
      for (let k = i; k <= i + lookahead && k < job.arms.length; k++) pulls.prefetch(imageOf(k));
      const input: RunArmInput = {
        docker,
        arm,
        jobId: job.jobId,
        roundSeed: job.roundSeed,
        workload,
        profile,
        modelDir: job.modelDir,
        network: mode,
        gpus,
        limits: options.limits,
        port: options.port ?? 8000,
        startupTimeoutS: startupTimeoutOf(arm, {
          baseline: options.startupTimeoutS?.baseline ?? 1200,
          challenger: options.startupTimeoutS?.challenger ?? 750,
        }),
        stopGraceS: options.stopGraceS ?? 10,
        readyIntervalMs: options.readyIntervalMs ?? 1000,
        maxFailedRequestFraction: options.maxFailedRequestFraction ?? 0.5,
        pulls,
        repull: (image) => pullOne(image, signal),
        measure,
        waitForGpuIdle: options.waitForGpuIdle ?? (async () => {}),
        keepRunning: i === closingIndex && options.teacherForce !== undefined,
        signal,
        emit,
        logger: logger.child({ arm: arm.armId }),
        now,
      };
      let run: ArmRun;
      try {
        run = await runArm(input);
      } catch (error) {
        if (!signal.aborted) throw error;
        break;
      }
      runs.set(arm.armId, run);
      if (run.container) kept.push({ run, input });
      judge(run, runs.get(job.arms[0]?.armId ?? ""), [], options);
      emit({
        case: "armFinished",
        value: create(ArmFinishedSchema, { jobId: job.jobId, result: run.result }),
      });
      logger.info("arm finished", {
        arm: arm.armId,
        outcome: enumName(ArmOutcome, run.result.outcome),
        reason: run.result.reason,
      });
    }

    // Teacher forcing by the closing baseline's server, then the final verdicts.
    const opening = runs.get(job.arms[0]?.armId ?? "");
    const closing = kept[0];
    for (const run of runs.values()) {
      if (run === opening || !run.measurement) continue;
      let scores: TeacherForcedScore[] = [];
      if (closing?.run.container && options.teacherForce && !signal.aborted) {
        progress("teacher-forcing", `scoring ${run.result.armId}'s outputs on the closing baseline`);
        try {
          scores = await options.teacherForce({
            endpoint: closing.run.container.endpoint,
            workload,
            prompts: run.measurement.prompts,
            outputs: run.measurement.outputs,
            signal,
          });
        } catch (error) {
          logger.warn("teacher forcing failed; judged without it", {
            arm: run.result.armId,
            error: error as Error,
          });
        }
      }
      judge(run, opening, scores, options);
    }
  } catch (error) {
    if (!signal.aborted) {
      logger.error("job failed", { error: error as Error });
      return finish(false, CacheonError.from(error).message);
    }
  } finally {
    for (const { run, input } of kept) {
      if (run.container) await finishContainer(run.container, run.result, input).catch(() => {});
    }
    await network?.remove();
    await removeJobObjects({ docker, jobId: job.jobId, logger }).catch(() => {});
    if (options.removePulledImages) {
      for (const id of pulled)
        await docker
          .getImage(id)
          .remove({ force: true })
          .catch(() => {});
    }
    result.arms = job.arms.map((arm) => runs.get(arm.armId)?.result ?? cancelledArm(arm.armId, signal));
  }
  if (signal.aborted) return finish(false, `cancelled: ${reasonText(signal.reason)}`);
  const opening = result.arms[0];
  return finish(
    true,
    opening?.outcome === ArmOutcome.MEASURED
      ? ""
      : `the opening baseline was not measured (${opening?.reason}); no arm could be judged for correctness`,
  );
}

/** Sets an arm's correctness against the opening baseline (none for the opening baseline itself). */
function judge(
  run: ArmRun,
  opening: ArmRun | undefined,
  teacherForced: TeacherForcedScore[],
  options: PodJobOptions,
) {
  if (run === opening || !run.measurement) return;
  if (!opening?.measurement || opening.result.outcome !== ArmOutcome.MEASURED) return;
  const summary = compareOutputs({
    reference: opening.measurement.outputs,
    candidate: run.measurement.outputs,
    teacherForced,
    thresholds: options.thresholds,
  });
  if (!options.teacherForce) summary.thresholds.push("teacher_forcing=not-wired");
  run.result.correctness = summary;
}

function cancelledArm(armId: string, signal: AbortSignal): ArmResult {
  return create(ArmResultSchema, {
    armId,
    outcome: signal.aborted ? ArmOutcome.CANCELLED : ArmOutcome.UNSPECIFIED,
    reason: signal.aborted ? `cancelled before the arm finished: ${reasonText(signal.reason)}` : "not run",
    exitCode: -1,
  });
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? "aborted");
}

/** Measures with the bench engine (agent/bench, issue 4). */
const defaultMeasure: MeasureArm = async (input): Promise<ArmMeasurement> => {
  const run = await runWorkload({
    endpoint: input.endpoint,
    workload: input.workload,
    roundSeed: input.roundSeed,
    armId: input.armId,
    signal: input.signal,
    onRequest: input.onRequest,
    onProgress: input.onProgress,
    logger: input.logger,
  });
  return { summary: run.summary, requests: run.requests, outputs: run.outputs, prompts: run.prompts };
};

/**
 * Integration point for agent/hardware (issue 5): until its probe is wired here, profile "none"
 * passes with the engine's facts and any GPU profile fails the job rather than running unverified.
 */
function defaultVerifyHardware(options: PodJobOptions): VerifyHardware {
  return async ({ profile }) => {
    const info = await options.docker.info().catch(() => undefined);
    const report = create(HardwareReportSchema, {
      profile,
      ok: profile === "none",
      takenAtUnixMs: BigInt((options.now ?? Date.now)()),
      host: {
        hostname: String(info?.Name ?? ""),
        cpuLogicalCores: Number(info?.NCPU ?? 0),
        memoryTotalBytes: BigInt(info?.MemTotal ?? 0),
        os: String(info?.OperatingSystem ?? ""),
        kernel: String(info?.KernelVersion ?? ""),
        dockerVersion: String(info?.ServerVersion ?? ""),
        nvidiaContainerRuntime: Boolean(info?.Runtimes && "nvidia" in info.Runtimes),
      },
    });
    if (profile !== "none") {
      report.failures.push({
        $typeName: "cacheon.v1.HardwareFailure",
        rule: "probe",
        subject: "host",
        detail: `no hardware probe is wired into the pod job for profile "${profile}"; pass verifyHardware (agent/hardware) or use profile "none"`,
      });
    }
    return report;
  };
}
