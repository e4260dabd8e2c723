import { create } from "@bufbuild/protobuf";
import type { JobExecutor } from "../../agent/job/job-executor.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArmRole } from "../../shared/gen/cacheon/v1/job_pb.ts";
import { TokenKTimingSchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import {
  ArmOutcome,
  type ArmResult,
  ArmResultSchema,
  JobResultSchema,
} from "../../shared/gen/cacheon/v1/result_pb.ts";
import { sleep } from "../../shared/retry/backoff.ts";
import { seededRandom } from "../../shared/stats/seeded-random.ts";
import { coefficientOfVariation, median } from "../../shared/stats/summarise.ts";

/** How a simulated image behaves. */
export interface SimulatedImage {
  /** Speed against the baseline: 1.5 means its wall time is the baseline's / 1.5. */
  speed: number;
  /** Whether its outputs pass the correctness gate. @default true */
  correct?: boolean;
  /** Outcome other than measured (never-ready, crashed, ...). */
  outcome?: "never-ready" | "crashed" | "pull-failed";
  configDigest?: string;
  layers?: string[];
  sizeBytes?: number;
}

/** Options of {@link simulatedPod}. */
export interface SimulatedPodOptions {
  /** Images by manifest digest; the baseline must be among them (speed 1). */
  images: Record<string, SimulatedImage>;
  /** Per-repetition coefficient of variation of wall times. @default 0.003 */
  cv?: number;
  /** Relative drift between the opening and closing baseline. @default 0 */
  drift?: number;
  /** Baseline wall time, s. @default 60 */
  baselineWallS?: number;
  /** Real time one arm takes, ms (so tests can stop a controller mid-job). @default 0 */
  armDelayMs?: number;
  /** Repetitions per arm. @default 3 */
  repetitions?: number;
  /** Makes the pod fail every job this way (a lost pod, a broken machine). */
  fail?: string;
  /** Never finishes a job until cancelled. @default false */
  hang?: boolean;
}

/**
 * A stand-in for a GPU pod: a JobExecutor that returns JobResults for images whose behaviour is
 * given, with seeded noise. It stands in only for what cannot run here (8x H200 and a 72B
 * model); the controller under test handles its results exactly as a real agent's.
 */
export function simulatedPod(name: string, options: SimulatedPodOptions): JobExecutor {
  const cv = options.cv ?? 0.003;
  const base = options.baselineWallS ?? 60;
  const reps = options.repetitions ?? 3;
  return async (job, context) => {
    const started = Date.now();
    if (options.fail) throw new CacheonError("unavailable", options.fail);
    if (options.hang) {
      await new Promise((_, reject) => {
        context.signal.addEventListener("abort", () => reject(context.signal.reason), { once: true });
      });
    }
    const random = seededRandom(job.roundSeed || "00", `simulated-pod/${name}/${job.jobId}`);
    const normal = () => {
      let u = 0;
      while (u === 0) u = random.next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
    };
    const arms: ArmResult[] = [];
    // Per arm, the time to token k of each timed request (10 per repetition), ms: the figure
    // speed is scored on, filled in once the closing baseline has run.
    const requestMs = new Map<string, number[][]>();
    for (const [i, arm] of job.arms.entries()) {
      context.signal.throwIfAborted();
      if (options.armDelayMs) await sleep(options.armDelayMs, context.signal);
      const digest = arm.image?.digest ?? "";
      const image = options.images[digest];
      const progress = job.arms.length > 1 ? i / (job.arms.length - 1) : 0;
      const podDrift = 1 + (options.drift ?? 0) * progress;
      const armStart = Date.now();
      if (!image) {
        arms.push(armResult(arm.armId, ArmOutcome.PULL_FAILED, `manifest unknown: ${digest}`, armStart));
        continue;
      }
      if (image.outcome) {
        const outcome =
          image.outcome === "never-ready"
            ? ArmOutcome.NEVER_READY
            : image.outcome === "crashed"
              ? ArmOutcome.CRASHED
              : ArmOutcome.PULL_FAILED;
        arms.push(armResult(arm.armId, outcome, `${image.outcome} (simulated)`, armStart));
        continue;
      }
      const walls = Array.from({ length: reps }, () => (base / image.speed) * podDrift * (1 + cv * normal()));
      requestMs.set(
        arm.armId,
        walls.map((wall) => Array.from({ length: 10 }, () => (wall / 10) * 1000 * (1 + cv * normal()))),
      );
      const isBaseline = arm.role === ArmRole.OPENING_BASELINE || arm.role === ArmRole.CLOSING_BASELINE;
      const correct = image.correct ?? true;
      arms.push(
        create(ArmResultSchema, {
          ...armInit(arm.armId, ArmOutcome.MEASURED, "", armStart),
          image: {
            reference: arm.image
              ? {
                  registry: arm.image.registry,
                  repository: arm.image.repository,
                  digest: arm.image.digest,
                  tag: arm.image.tag,
                }
              : undefined,
            configDigest: image.configDigest ?? "",
            layerDiffIds: image.layers ?? [],
            sizeBytes: BigInt(image.sizeBytes ?? 0),
          },
          summary: {
            armId: arm.armId,
            requests: 10 * reps,
            completed: 10 * reps,
            repetitionWallS: walls,
            wallS: median(walls),
            wallCv: coefficientOfVariation(walls),
            outputTokens: BigInt(5120 * reps),
          },
          correctness: isBaseline
            ? undefined
            : {
                passed: correct,
                prompts: 10,
                promptsPassed: correct ? 10 : 3,
                promptsFailed: correct ? 0 : 7,
                reasons: correct ? [] : ["7 prompts: divergent token not in reference top-5"],
              },
        }),
      );
    }
    const opening = requestMs.get(job.arms[0]?.armId ?? "");
    const closing = requestMs.get(job.arms.findLast((a) => a.role === ArmRole.CLOSING_BASELINE)?.armId ?? "");
    for (const result of arms) {
      const own = requestMs.get(result.armId);
      if (!opening || !closing || !own || own === opening) continue;
      result.tokenK = own.flatMap((perRequest, repetition) =>
        perRequest.map((armMs, requestIndex) =>
          create(TokenKTimingSchema, {
            repetition,
            requestIndex,
            promptId: `p${requestIndex}`,
            k: 512,
            armMs,
            openingMs: opening[repetition]?.[requestIndex] ?? 0,
            closingMs: closing[repetition]?.[requestIndex] ?? 0,
          }),
        ),
      );
    }
    return create(JobResultSchema, {
      jobId: job.jobId,
      arms,
      networkMode: "internal",
      completed: true,
      startedAtUnixMs: BigInt(started),
      finishedAtUnixMs: BigInt(Date.now()),
    });
  };
}

function armResult(armId: string, outcome: ArmOutcome, reason: string, startedAt: number): ArmResult {
  return create(ArmResultSchema, armInit(armId, outcome, reason, startedAt));
}

// A plain init, not a message: create() keeps a message as it is, nested plain objects and all.
function armInit(armId: string, outcome: ArmOutcome, reason: string, startedAt: number) {
  return {
    armId,
    outcome,
    reason,
    exitCode: -1,
    startedAtUnixMs: BigInt(startedAt),
    finishedAtUnixMs: BigInt(Date.now()),
  };
}
