import type Docker from "dockerode";
import type { CorrectnessThresholds, TeacherForcedScore } from "../../shared/correctness/compare-outputs.ts";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import type { HardwareReport } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { ArmSummary, RequestMetrics } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { Logger } from "../../shared/log/logger.ts";
import type { ArmLimits, GpuSelection } from "../containers/arm-container-spec.ts";
import type { RegistryAuth } from "../containers/pull-image.ts";
import type { Prompt } from "../workload/prompt.ts";

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
  roundSeed: string;
  signal: AbortSignal;
  onRequest: (metrics: RequestMetrics) => void;
  onProgress: (done: number, total: number) => void;
  logger: Logger;
}) => Promise<ArmMeasurement>;

/**
 * Scores other arms' outputs with a reference server (the closing baseline): the mean
 * log-likelihood of each output's tokens under the reference model.
 */
export type TeacherForce = (input: {
  endpoint: string;
  workload: WorkloadSpec;
  prompts: Prompt[];
  outputs: GeneratedOutput[];
  signal: AbortSignal;
}) => Promise<TeacherForcedScore[]>;

/** Checks the machine against the job's hardware profile before anything is pulled. */
export type VerifyHardware = (input: { profile: string; signal: AbortSignal }) => Promise<HardwareReport>;

/** Waits until the GPUs are idle (cool, unused) before the next arm starts. */
export type WaitForGpuIdle = (input: { profile: string; signal: AbortSignal }) => Promise<void>;

/** Options of runPodJob. Every field optional except the engine; defaults follow the subnet's rules. */
export interface PodJobOptions {
  /** The Docker engine the arms run on. */
  docker: Docker;
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
  /** Remove images this job pulled when it ends (keeps disk bounded on pods). @default false */
  removePulledImages?: boolean;
  /** An arm whose failed share of timed requests exceeds this ends as BROKEN_OUTPUT. @default 0.5 */
  maxFailedRequestFraction?: number;
  /** Correctness tolerances. */
  thresholds?: CorrectnessThresholds;
  /** Measures an arm. @default the bench engine's runWorkload */
  measure?: MeasureArm;
  /**
   * Teacher forcing by the closing baseline. Integration point: when absent, outputs are judged
   * without teacher forcing and each CorrectnessSummary says so in `thresholds`.
   */
  teacherForce?: TeacherForce;
  /**
   * Hardware verification. Integration point for agent/hardware: when absent, profile "none"
   * gets a report built from the Docker engine's facts and any other profile fails the job.
   */
  verifyHardware?: VerifyHardware;
  /** GPU idle gate before each arm. @default immediate (no GPUs to wait for) */
  waitForGpuIdle?: WaitForGpuIdle;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}
