import { clone, create, type JsonValue } from "@bufbuild/protobuf";
import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmFinishedSchema, JobProgressSchema } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import {
  type HardwareFailure,
  HardwareFailureSchema,
  type HardwareReport,
} from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import { ArmRole, type EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  ArmOutcome,
  type ArmResult,
  ArmResultSchema,
  type JobResult,
  JobResultSchema,
} from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { PinnedImage } from "../../shared/image/image-reference.ts";
import type { Logger } from "../../shared/log/logger.ts";
import { silentLogger } from "../../shared/log/logger.ts";
import { qwenTokenizer } from "../../shared/tokenizer/qwen-tokenizer.ts";
import { runWorkload } from "../bench/run-workload.ts";
import { teacherForce } from "../bench/teacher-force.ts";
import { tokenKTimings } from "../bench/token-k-timings.ts";
import type { GpuSelection, NetworkMode } from "../containers/arm-container-spec.ts";
import { createJobNetwork, type JobNetwork, removeJobObjects } from "../containers/job-network.ts";
import { PodFault } from "../containers/pod-fault.ts";
import { pullImage } from "../containers/pull-image.ts";
import { createPullQueue, type PullQueue } from "../containers/pull-queue.ts";
import { bandwidthFailures, measureGpuBandwidth } from "../hardware/bandwidth-check.ts";
import { startGpuSampler } from "../hardware/gpu-sampler.ts";
import { dockerBandwidthRunner } from "../hardware/gpu-script-runners.ts";
import { probeHardware } from "../hardware/probe-hardware.ts";
import { loadHardwareProfile } from "../hardware/profiles.ts";
import { waitForGpuIdle } from "../hardware/wait-for-gpu-idle.ts";
import { jobSchedule, type TimedSchedule } from "../workload/timed-schedule.ts";
import { bracketingBaselines } from "./bracketing-baselines.ts";
import { type CheckGpusReleasedFn, checkGpusReleased } from "./check-gpus-released.ts";
import { attachJobEvidence, recordTeacherForcing } from "./job-evidence.ts";
import type { JobContext, JobExecutor } from "./job-executor.ts";
import { jobTimeToTokenK } from "./job-time-to-token-k.ts";
import { judgeArms, provisionalVerdict } from "./judge-arms.ts";
import type {
  ArmMeasurement,
  MeasureArm,
  PodJobOptions,
  TeacherForce,
  VerifyHardware,
  WaitForGpuIdle,
} from "./pod-job-options.ts";
import {
  type ArmRun,
  applyGpuRelease,
  enumName,
  finishContainer,
  type RunArmInput,
  runArm,
  startupTimeoutOf,
} from "./run-arm.ts";
import { createTimedWindows } from "./timed-window.ts";
import { isBaseline, pinnedImageOf, validateJob } from "./validate-job.ts";

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
  // Each arm's container log as captured, for its evidence bundle.
  const logs = new Map<string, { text: string; truncated: boolean }>();
  const emit: JobContext["emit"] = (payload) => {
    if (payload.case === "log" && payload.value.armId)
      logs.set(payload.value.armId, { text: payload.value.text, truncated: payload.value.truncated });
    try {
      context.emit(payload);
    } catch (error) {
      logger.warn("emit threw; event dropped", { error: error as Error });
    }
  };
  const networkMode = options.networkMode ?? "internal";
  const owner = options.owner ?? `local-${process.pid}`;
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
  let schedule: TimedSchedule | undefined;
  try {
    schedule = jobSchedule(job);
  } catch (error) {
    return finish(false, `invalid job: ${CacheonError.from(error).message}`);
  }

  let network: JobNetwork | undefined;
  const runs = new Map<string, ArmRun>();
  let expectedGpus = 0;
  // What the reference returned for each arm's outputs, kept for the evidence bundles.
  let recording: ReturnType<typeof recordTeacherForcing> | undefined;
  // Each arm's result as the final judging began: what a re-judgement starts from.
  const judgedFrom = new Map<string, ArmResult>();
  const kept: Array<{ run: ArmRun; input: RunArmInput }> = [];
  const pulled = new Set<string>();
  // Why the job could not go on (the pod failed, or an arm left the GPUs unusable); the arms after
  // that point are reported as not run, and the job as incomplete so it is rerun elsewhere.
  let stopped: string | undefined;
  const baselineImages = new Set(
    job.arms.filter((a) => isBaseline(a.role)).map((a) => `${a.image?.repository}@${a.image?.digest}`),
  );
  try {
    // Leftovers of an earlier agent run of this job would hold names and GPUs.
    await removeJobObjects({ docker, jobId: job.jobId, logger });

    progress("verify", `checking hardware against profile "${job.hardwareProfile || "none"}"`);
    const profile = job.hardwareProfile || "none";
    const verify = options.verifyHardware ?? defaultVerifyHardware(options, logger);
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
      network = await createJobNetwork({
        docker,
        jobId: job.jobId,
        owner,
        hostGuard: options.hostGuard,
        logger,
      });
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
        ...(options.pullGate === false ? { gate: false } : {}),
        ...(options.pullTimeoutMs ? { timeoutMs: options.pullTimeoutMs } : {}),
        ...(options.pullStallMs ? { stallMs: options.pullStallMs } : {}),
        signal: pullSignal,
        logger,
      });
      // The pinned baseline stays cached between jobs; every other image this job pulled goes.
      if (metadata.pullSeconds > 0 && !baselineImages.has(`${image.repository}@${image.digest}`)) {
        pulled.add(metadata.configDigest);
        if (options.removeImages) options.imageLedger?.pulled(metadata.configDigest, job.jobId);
      }
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
    const tokenizer = options.tokenizer ?? qwenTokenizer();
    recording = recordTeacherForcing(
      options.teacherForce ?? defaultTeacherForce(options, tokenizer, logger),
      {
        by: () => kept[0]?.run.result.armId ?? "",
        armOf: (outputs) => [...runs.values()].find((r) => r.measurement?.outputs === outputs)?.result.armId,
      },
    );
    const teacher = recording.teacherForce;
    const gate = options.waitForGpuIdle ?? defaultWaitForGpuIdle(options);
    const checkReleased = options.checkGpusReleased ?? defaultCheckGpusReleased(options, profile);
    expectedGpus = gpus === "none" ? 0 : (loadHardwareProfile(profile).gpuCount ?? hardware.gpus.length);
    const openTimedWindow = createTimedWindows({
      docker,
      pulls,
      pausePulls: options.pausePullsWhileTimed ?? true,
      expectedGpus,
      startSampler: options.startGpuSampler ?? startGpuSampler,
      ...(options.nvidiaSmiPath ? { nvidiaSmiPath: options.nvidiaSmiPath } : {}),
      ...(options.env ? { env: options.env } : {}),
      onWait: (armId, message) =>
        emit({
          case: "progress",
          value: create(JobProgressSchema, { jobId: job.jobId, armId, phase: "measure", message }),
        }),
      logger,
    });

    if (options.bandwidthCheck) {
      const failure = await checkBandwidth(job, hardware, pulls, options, signal, progress);
      if (failure) return finish(false, `hardware verification failed: ${failure}`);
    }

    for (const [i, arm] of job.arms.entries()) {
      if (signal.aborted) break;
      for (let k = i; k <= i + lookahead && k < job.arms.length; k++) pulls.prefetch(imageOf(k));
      const input: RunArmInput = {
        docker,
        owner,
        arm,
        jobId: job.jobId,
        roundSeed: job.roundSeed,
        workload,
        ...(schedule ? { schedule } : {}),
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
        waitForGpuIdle: gate,
        openTimedWindow,
        checkGpusReleased: checkReleased,
        keepRunning: i === closingIndex,
        signal,
        emit,
        logger: logger.child({ arm: arm.armId }),
        now,
      };
      let run: ArmRun;
      try {
        run = await runArm(input);
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof PodFault)) throw error;
        stopped = `the pod failed during arm ${arm.armId}: ${error.message}`;
        logger.error("pod fault; the job stops here", { arm: arm.armId, error });
        break;
      }
      runs.set(arm.armId, run);
      if (run.container) kept.push({ run, input });
      const provisional = provisionalVerdict(run, runs.get(job.arms[0]?.armId ?? ""), {
        workload,
        tokenizer,
        thresholds: options.thresholds,
      });
      if (provisional) run.result.correctness = provisional;
      emit({
        case: "armFinished",
        // A snapshot: the final verdict (after teacher forcing) replaces run.result's correctness later.
        value: create(ArmFinishedSchema, { jobId: job.jobId, result: clone(ArmResultSchema, run.result) }),
      });
      logger.info("arm finished", {
        arm: arm.armId,
        outcome: enumName(ArmOutcome, run.result.outcome),
        reason: run.result.reason,
      });
      if (run.gpuRelease && !run.gpuRelease.released) {
        stopped = `arm ${arm.armId} left the GPUs unusable (${run.gpuRelease.reasons.join("; ")}); the arms after it were not run here`;
        break;
      }
    }

    // Teacher forcing by the closing baseline's server, calibration by the bookends, final verdicts.
    for (const run of runs.values()) judgedFrom.set(run.result.armId, clone(ArmResultSchema, run.result));
    await judgeArms({
      runs: job.arms.flatMap((a) => runs.get(a.armId) ?? []),
      closing: kept[0]?.run,
      workload,
      teacherForce: teacher,
      tokenizer,
      thresholds: options.thresholds,
      calibrationMultiplier: options.calibrationMultiplier,
      signal,
      progress: (message) => progress("teacher-forcing", message),
      logger,
    });
    jobTimeToTokenK(runs, job);
  } catch (error) {
    if (!signal.aborted) {
      logger.error("job failed", { error: error as Error });
      return finish(false, CacheonError.from(error).message);
    }
  } finally {
    for (const { run, input } of kept) {
      if (!run.container) continue;
      await finishContainer(run.container, run.result, input).catch(() => {});
      if (!signal.aborted) {
        const release = await input
          .checkGpusReleased({ armId: run.result.armId, signal })
          .catch(() => undefined);
        if (release) applyGpuRelease(run, release);
      }
    }
    await network?.remove();
    await removeJobObjects({ docker, jobId: job.jobId, logger }).catch(() => {});
    if (options.removeImages) {
      for (const id of pulled) {
        await docker
          .getImage(id)
          .remove({ force: true })
          .then(
            () => options.imageLedger?.removed(id),
            (error: unknown) => logger.warn("pulled image not removed", { image: id, error }),
          );
      }
    }
    result.arms = job.arms.map((arm) => runs.get(arm.armId)?.result ?? notRunArm(arm.armId, signal, stopped));
  }
  if (signal.aborted) return finish(false, `cancelled: ${reasonText(signal.reason)}`);
  attachJobEvidence({
    job,
    result,
    runs,
    judgedFrom,
    teacherForced: recording?.recorded ?? new Map(),
    logs,
    judge: {
      ...(options.thresholds ? { thresholds: options.thresholds as unknown as JsonValue } : {}),
      ...(options.calibrationMultiplier !== undefined
        ? { calibrationMultiplier: options.calibrationMultiplier }
        : {}),
      expectedGpus,
    },
    agentVersion: options.agentVersion ?? "",
    artefact: context.artefact?.bind(context),
    onProblem: (armId, error) => logger.error("evidence bundle not made", { arm: armId, error }),
  });
  if (stopped) return finish(false, stopped);
  const opening = result.arms[0];
  return finish(
    true,
    opening?.outcome === ArmOutcome.MEASURED
      ? ""
      : `the opening baseline was not measured (${opening?.reason}); no arm could be judged for correctness`,
  );
}

/** The result of an arm that did not run: cancelled, stopped by the pod (not the arm's fault), or not reached. */
function notRunArm(armId: string, signal: AbortSignal, stopped: string | undefined): ArmResult {
  const reason = signal.aborted
    ? `cancelled before the arm finished: ${reasonText(signal.reason)}`
    : stopped
      ? `not run: ${stopped}`
      : "not run";
  return create(ArmResultSchema, {
    armId,
    outcome: signal.aborted || stopped ? ArmOutcome.CANCELLED : ArmOutcome.UNSPECIFIED,
    reason,
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
    ...(input.schedule ? { schedule: input.schedule } : {}),
    roundSeed: input.roundSeed,
    armId: input.armId,
    signal: input.signal,
    onRequest: input.onRequest,
    onProgress: input.onProgress,
    logger: input.logger,
  });
  return { summary: run.summary, requests: run.requests, outputs: run.outputs, prompts: run.prompts };
};

/** Verifies the machine with agent/hardware's probe against the job's profile. */
function defaultVerifyHardware(options: PodJobOptions, logger: Logger): VerifyHardware {
  return ({ profile, signal }) =>
    probeHardware({
      profile,
      nvidiaSmiPath: options.nvidiaSmiPath,
      docker: options.docker,
      env: options.env,
      signal,
      logger,
      now: options.now,
    });
}

/** The GPU idle gate of agent/hardware; GPUs that stay busy fail the job (the pod is not ours alone). */
function defaultWaitForGpuIdle(options: PodJobOptions): WaitForGpuIdle {
  return async ({ profile, armId, signal }) => {
    const gate = await waitForGpuIdle({
      ...options.idleGate,
      profile,
      nvidiaSmiPath: options.nvidiaSmiPath,
      env: options.env,
      signal,
    });
    if (!gate.idle) {
      // Busy before the arm began (the check after the previous arm passed): the pod's fault.
      throw new PodFault(
        "unavailable",
        `the GPUs did not go idle before arm ${armId} (${gate.samplesTaken} samples in ${(gate.waitedMs / 1000).toFixed(1)} s): ${gate.reasons.join("; ")}; stop whatever else uses them or run the job on another pod`,
      );
    }
  };
}

/** The check after every arm with agent/job's checkGpusReleased, the job's profile and `gpuRelease` settings. */
function defaultCheckGpusReleased(options: PodJobOptions, profile: string): CheckGpusReleasedFn {
  return ({ signal }) =>
    checkGpusReleased({
      ...options.gpuRelease,
      profile,
      ...(options.nvidiaSmiPath ? { nvidiaSmiPath: options.nvidiaSmiPath } : {}),
      ...(options.env ? { env: options.env } : {}),
      signal,
    });
}

/** Teacher forcing with agent/bench's teacherForce against the closing baseline's server. */
function defaultTeacherForce(
  options: PodJobOptions,
  tokenizer: JudgeTokenizer,
  logger: Logger,
): TeacherForce {
  return ({ endpoint, workload, prompts, outputs, signal }) =>
    teacherForce({
      reference: endpoint,
      model: workload.model,
      prompts,
      outputs,
      tokenizer,
      topK: Math.max(1, workload.topLogprobs),
      endOfTurnIds: options.endOfTurnIds,
      signal,
      logger,
    });
}

/**
 * The active GPU checks, run inside the opening baseline's image (it carries PyTorch) once that is
 * pulled and before any arm starts: the pairwise copy, then the NCCL all-reduce across every GPU.
 * Adds the result to the hardware report; returns why the machine fails, or undefined when it
 * passes or the profile sets no threshold.
 */
async function checkBandwidth(
  job: EvaluationJob,
  hardware: HardwareReport,
  pulls: PullQueue,
  options: PodJobOptions,
  signal: AbortSignal,
  progress: (phase: string, message: string) => void,
): Promise<string | undefined> {
  const profile = loadHardwareProfile(job.hardwareProfile || "none");
  const min = profile.minBandwidthGbPerS;
  const minAllReduce = profile.minAllReduceBusGbPerS;
  if (min === undefined && minAllReduce === undefined) return undefined;
  const fail = (failures: HardwareFailure[], reason: string) => {
    hardware.ok = false;
    hardware.failures.push(...failures);
    return reason;
  };
  const hostFailure = (rule: string, detail: string) =>
    fail([create(HardwareFailureSchema, { rule, subject: "host", detail })], `${rule} (host): ${detail}`);
  const baseline = pinnedImageOf(job.arms[0]?.image);
  if (!baseline.ok)
    return hostFailure("bandwidth", `no baseline image to run the copy test in: ${baseline.error}`);
  progress(
    "verify",
    `GPU-to-GPU copy test${minAllReduce === undefined ? "" : " and NCCL all-reduce"} in the baseline image (needs >= ${min ?? 0} GB/s per pair${minAllReduce === undefined ? "" : `, >= ${minAllReduce} GB/s bus bandwidth`})`,
  );
  let measured: Awaited<ReturnType<typeof measureGpuBandwidth>>;
  try {
    const { configDigest } = await pulls.get(baseline.image);
    const runner = (
      options.bandwidthRunner ?? ((image) => dockerBandwidthRunner({ docker: options.docker, image }))
    )(configDigest);
    measured = await measureGpuBandwidth(runner, profile, signal);
  } catch (error) {
    signal.throwIfAborted();
    return hostFailure("bandwidth", `the copy test could not run: ${CacheonError.from(error).message}`);
  }
  if (measured.bandwidth) hardware.bandwidth = measured.bandwidth;
  const below = measured.bandwidth ? bandwidthFailures(measured.bandwidth, profile) : [];
  const failures = [...measured.failures, ...below];
  if (failures.length === 0) return undefined;
  const slow = below
    .filter((f) => f.rule === "bandwidth")
    .map((f) => {
      const pair = measured.bandwidth?.pairs.find((p) => `gpu ${p.src}->${p.dst}` === f.subject);
      return `${f.subject} ${pair?.gbPerS.toFixed(1)} GB/s`;
    });
  const reasons = [
    ...measured.failures.map((f) => `${f.rule} (${f.subject}): ${f.detail}`),
    ...(slow.length > 0 ? [`bandwidth (host): copy bandwidth below ${min} GB/s: ${slow.join(", ")}`] : []),
    ...below.filter((f) => f.rule !== "bandwidth").map((f) => `${f.rule} (${f.subject}): ${f.detail}`),
  ];
  return fail(failures, reasons.join("; "));
}
