import type Docker from "dockerode";
import type { JudgeTokenizer } from "../../shared/correctness/check-integrity.ts";
import type { CorrectnessThresholds } from "../../shared/correctness/correctness-thresholds.ts";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import type { TeacherForcedOutput } from "../../shared/correctness/teacher-forced-output.ts";
import type { HardwareReport } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { ArmSummary, RequestMetrics } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { ArmLimits, GpuSelection } from "../containers/arm-container-spec.ts";
import type { RegistryAuth } from "../containers/pull-image.ts";
import type { BandwidthRunner } from "../hardware/bandwidth-check.ts";
import type { Prompt } from "../workload/prompt.ts";
import type { TimedSchedule } from "../workload/timed-schedule.ts";
import type { CheckGpusReleasedFn } from "./check-gpus-released.ts";
import type { StartGpuSampler } from "./timed-window.ts";

/** What measuring one arm produced (the bench engine's WorkloadRun, reduced to what the job uses). */
export interface ArmMeasurement {
  summary: ArmSummary;
  requests: RequestMetrics[];
  outputs: GeneratedOutput[];
  prompts: Prompt[];
}

/** Measures one ready server: warm-up, then the timed workload repeated. */
export type MeasureArm = (input: {
  endpoint: string;
  armId: string;
  workload: WorkloadSpec;
  /** The job's prompts and their order (generated workloads); absent for a pool workload. */
  schedule?: TimedSchedule;
  roundSeed: string;
  signal: AbortSignal;
  onRequest: (metrics: RequestMetrics) => void;
  onProgress: (done: number, total: number) => void;
  logger: Logger;
}) => Promise<ArmMeasurement>;

/**
 * Scores outputs with a reference server (the closing baseline): every token's logprob, rank and
 * the reference's best at its position, and the end of turn after an output that stopped. Throws
 * when the reference fails (the verdict is then no decision).
 */
export type TeacherForce = (input: {
  endpoint: string;
  workload: WorkloadSpec;
  prompts: Prompt[];
  outputs: GeneratedOutput[];
  signal: AbortSignal;
}) => Promise<TeacherForcedOutput[]>;

/** Checks the machine against the job's hardware profile before anything is pulled. */
export type VerifyHardware = (input: { profile: string; signal: AbortSignal }) => Promise<HardwareReport>;

/**
 * Waits until the GPUs are idle (cool, unused) before the next arm starts. Throws when they do
 * not go idle in time: the pod is busy or shared, so the job fails rather than measure on it.
 */
export type WaitForGpuIdle = (input: {
  profile: string;
  armId: string;
  signal: AbortSignal;
}) => Promise<void>;

/** Settings of the default GPU idle gate (agent/hardware waitForGpuIdle); missing fields take its defaults. */
export interface IdleGateSettings {
  /** Consecutive idle samples needed. @default 3 */
  samples?: number;
  /** Time between samples, ms. @default 2000 */
  intervalMs?: number;
  /** Give up (and fail the job) after this long, ms. @default 300000 */
  timeoutMs?: number;
  /** @default 65 */
  maxTemperatureC?: number;
  /** @default 5 */
  maxUtilizationPercent?: number;
  /** @default 1024 */
  maxMemoryUsedMib?: number;
}

/** Options of runPodJob. Every field optional except the engine; defaults follow the subnet's rules. */
export interface PodJobOptions {
  /** Build version of this agent, written into every evidence bundle. @default "" */
  agentVersion?: string;
  /** The Docker engine the arms run on. */
  docker: Docker;
  /**
   * Identity of this agent, labelled (cacheon.agent) on every container and network the job
   * creates and named in its firewall rules, so a restarted agent removes its own leftovers and
   * nothing of other agents sharing the engine. Pod mode passes the agent id.
   * @default "local-<pid>", unique per process
   */
  owner?: string;
  logger?: Logger;
  /**
   * "internal": each job gets its own internal bridge network (no route out; the host reached only
   * by replies, see guardHostFromBridge). "host": the host's network, for machines where a bridge
   * is unwanted; no network isolation, stated in the result. @default "internal"
   */
  networkMode?: "internal" | "host";
  /** Whether the host firewall rule is required, best effort, or off. @default "required" */
  hostGuard?: "required" | "best-effort" | "off";
  /** GPUs given to each arm. @default "none" for profile "none", else "all" */
  gpus?: GpuSelection;
  /** Container limits; missing fields take the defaults of ArmLimits. */
  limits?: ArmLimits;
  /** Port the servers listen on inside their containers. @default 8000 */
  port?: number;
  /** Start-up timeouts in seconds when the arm does not set one. @default baseline 1200, others 750 */
  startupTimeoutS?: { baseline?: number; challenger?: number };
  /** Seconds between SIGTERM and SIGKILL when an arm is stopped. @default 10 */
  stopGraceS?: number;
  /** Poll interval of readiness checks, ms. @default 1000 */
  readyIntervalMs?: number;
  /** Largest unpacked image, bytes. @default 20 GB */
  maxImageBytes?: number;
  /** Free disk needed before each pull, bytes. @default maxImageBytes */
  minFreeBytes?: number;
  /** Registry credentials. */
  registryAuth?: RegistryAuth;
  /** Pulls running at once. @default 1 */
  pullConcurrency?: number;
  /** Arms ahead of the running one whose images are pulled in the background; 0 pulls only on demand. @default 1 */
  pullLookahead?: number;
  /**
   * Remove the images this job pulled when it ends, but the pinned baseline's (it stays cached for
   * the next job), so a pod's disk never fills with miners' images. Pod mode turns it on; local
   * mode keeps them for the next try. @default false
   */
  removeImages?: boolean;
  /**
   * Told of each image the job pulled and will remove, and of each removal, so an agent killed
   * mid-job removes them at its next start (AgentStateStore keeps the list). Used with removeImages.
   */
  imageLedger?: { pulled(imageId: string, jobId: string): void; removed(imageId: string): void };
  /**
   * Pull through the loopback registry gate (agent/containers/registry-gate.ts), which refuses an
   * image over `maxImageBytes` from its manifest and counts its unpacked size before the engine
   * unpacks it. Off only where the engine cannot reach the agent's loopback. @default true
   */
  pullGate?: boolean;
  /** Deadline of one pull, ms. @default 30 minutes */
  pullTimeoutMs?: number;
  /** A pull that moves no byte for this long is stopped, ms. @default 2 minutes */
  pullStallMs?: number;
  /**
   * Hold the pull queue while an arm is timed (a pull already running is let finish before the
   * timing starts), so every arm is measured on an equally quiet machine. @default true
   */
  pausePullsWhileTimed?: boolean;
  /**
   * Samples the GPUs during each arm's timed window (an arm given GPUs must show its own processes
   * working on them, see gpu-proof.ts). @default agent/hardware/gpu-sampler.ts startGpuSampler with
   * `nvidiaSmiPath` and `env`
   */
  startGpuSampler?: StartGpuSampler;
  /** The check after each arm that the GPUs came free. @default checkGpusReleased with `gpuRelease` */
  checkGpusReleased?: CheckGpusReleasedFn;
  /** Settings of the default check after each arm. */
  gpuRelease?: { timeoutMs?: number; intervalMs?: number; maxMemoryUsedMib?: number; reset?: boolean };
  /** An arm whose failed share of timed requests exceeds this ends as BROKEN_OUTPUT. @default 0.5 */
  maxFailedRequestFraction?: number;
  /** Correctness tolerances before the bookends calibrate them (see calibrateThresholds). */
  thresholds?: CorrectnessThresholds;
  /** How far beyond the bookends' own disagreement the calibrated tolerances reach. @default 2 */
  calibrationMultiplier?: number;
  /** The reference's tokenizer, for the integrity checks of every output. @default qwenTokenizer() */
  tokenizer?: JudgeTokenizer;
  /** Ids that end the model's turn, scored after an output that stopped. @default Qwen's <|im_end|>, <|endoftext|> */
  endOfTurnIds?: readonly number[];
  /** Measures an arm. @default the bench engine's runWorkload */
  measure?: MeasureArm;
  /**
   * Teacher forcing by the closing baseline (its container is kept up after its measurement).
   * @default agent/bench teacherForce against the closing baseline's server
   */
  teacherForce?: TeacherForce;
  /**
   * Hardware verification before anything is pulled.
   * @default agent/hardware probeHardware with the job's profile, `nvidiaSmiPath`, `env` and `docker`
   */
  verifyHardware?: VerifyHardware;
  /**
   * GPU idle gate before each arm.
   * @default agent/hardware waitForGpuIdle with the job's profile, `nvidiaSmiPath`, `env` and `idleGate`
   * (for profile "none" on a machine without nvidia-smi it passes at once)
   */
  waitForGpuIdle?: WaitForGpuIdle;
  /** Settings of the default idle gate. */
  idleGate?: IdleGateSettings;
  /** nvidia-smi the default probe and idle gate run: a name on PATH or a path. @default "nvidia-smi" */
  nvidiaSmiPath?: string;
  /**
   * Environment of the default probe and idle gate (loader overrides are checked in it; nvidia-smi
   * runs with it, cleaned). @default process.env
   */
  env?: Record<string, string | undefined>;
  /**
   * Run the active GPU-to-GPU copy test (issue 5) inside the opening baseline's image once it is
   * pulled, before any arm starts, when the profile sets `minBandwidthGbPerS`. A result below the
   * threshold, or a test that cannot run, fails the job's hardware verification. Pod mode turns it
   * on. @default false
   */
  bandwidthCheck?: boolean;
  /** Runs the copy test given the pulled baseline image id. @default dockerBandwidthRunner on `docker` */
  bandwidthRunner?: (image: string) => BandwidthRunner;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}
