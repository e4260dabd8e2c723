import type { JsonValue } from "@bufbuild/protobuf";
import { type ArmLaunchSettings, defaultArmLaunch } from "../../shared/launch/arm-launch.ts";

/** How rounds are run; every number has a documented default (see controller-config.ts). */
export interface RoundSettings {
  /** The pinned baseline image, by digest. */
  baselineImage: string;
  /** The workload every arm is measured with (cacheon.v1.WorkloadSpec in protobuf JSON form). */
  workload: JsonValue;
  /** Hardware profile pods must meet ("h200x8", "none"). @default "h200x8" */
  hardwareProfile: string;
  /** Model directory on the pod. @default "/models/Qwen2.5-72B-Instruct" */
  modelDir: string;
  /** Most challengers in one job. @default 4 */
  maxChallengersPerJob: number;
  /** Blocks of a phase's later jobs (2 or more: interleaved with interim baselines, see armsFor). @default 1 */
  interleavedBlocks?: number | undefined;
  /** Attempts of one job (first run plus retries on other pods). @default 3 */
  maxAttempts: number;
  /** A round ends by then even when jobs are still out, ms. @default 6 hours */
  roundTimeoutMs: number;
  /** One job's deadline, ms. @default 2 hours */
  jobTimeoutMs: number;
  /** Start-up allowance of the baseline and of miners' images, s. @default 1200 / 750 */
  baselineStartupS: number;
  challengerStartupS: number;
  /** Mixed into every round seed (keeps prompts private to this validator). @default "" */
  validatorSecret: string;
  /** How arms are launched: the baseline's recipe and every arm's writable caches. */
  launch: ArmLaunchSettings;
}

/** The defaults of everything but the baseline image and workload. */
export const defaultRoundSettings = {
  hardwareProfile: "h200x8",
  modelDir: "/models/Qwen2.5-72B-Instruct",
  maxChallengersPerJob: 4,
  interleavedBlocks: 1,
  maxAttempts: 3,
  roundTimeoutMs: 6 * 3600_000,
  jobTimeoutMs: 2 * 3600_000,
  baselineStartupS: 1200,
  challengerStartupS: 750,
  validatorSecret: "",
  launch: defaultArmLaunch,
} as const satisfies Partial<RoundSettings>;
