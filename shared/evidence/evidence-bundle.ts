import { clone, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import * as z from "zod";
import type { GeneratedOutput } from "../correctness/generated-output.ts";
import { CacheonError } from "../errors/cacheon-error.ts";
import { type HardwareReport, HardwareReportSchema } from "../gen/cacheon/v1/hardware_pb.ts";
import { type EvaluationJob, EvaluationJobSchema } from "../gen/cacheon/v1/job_pb.ts";
import { type RequestMetrics, RequestMetricsSchema } from "../gen/cacheon/v1/metrics_pb.ts";
import { type ArmResult, ArmResultSchema } from "../gen/cacheon/v1/result_pb.ts";
import { canonicalJsonBytes, parseCanonicalJson, sha256Hex } from "./canonical-json.ts";

/** The schema name every bundle carries; a reader refuses any other. */
export const evidenceSchemaName = "cacheon.evidence.v1";

/**
 * The settings the agent judged with, beyond the job: the verdict depends on them, so a
 * re-judgement uses them and says when they are not the defaults. Absent = the judge's default.
 */
export interface EvidenceJudgeSettings {
  /** Correctness tolerances before the bookends calibrate them (the judge's own type, as JSON). */
  thresholds?: JsonValue;
  /** How far beyond the bookends' own disagreement the calibrated tolerances reach. */
  calibrationMultiplier?: number;
  /** Repeat speed-up beyond the baseline's that flags an arm (probe judging). */
  probeMargin?: number;
  /** Factor beyond the arm's own typical speed that makes a request an outlier. */
  outlierFactor?: number;
  /** GPUs the arm's timed window was expected to show in use (0: no GPUs, nothing to prove). */
  expectedGpus: number;
}

/** The reference's teacher forcing of this arm's outputs (by the closing baseline's server). */
export interface EvidenceTeacherForcing {
  /** Arm id of the server that scored the outputs (the closing baseline). */
  by: string;
  /** "done": `outputs` holds the scores; "failed": the reference failed (`reason`). */
  state: "done" | "failed";
  reason: string;
  /** What the reference returned, one entry per output scored, exactly as the judge read it. */
  outputs: JsonValue[];
}

/**
 * One arm's evidence: everything anyone needs to judge the arm again without the pod, and
 * nothing that could be changed without changing its digest. With the bundles of the job's
 * other arms (the opening baseline's outputs are the reference; the closing baseline's scored
 * them), `cacheon-agent regrade` runs the same pure judging and scoring code on it.
 */
export interface EvidenceBundle {
  schema: typeof evidenceSchemaName;
  armId: string;
  /** sha256 of the canonical encoding of `job` in protobuf JSON: every bundle of a job has the same. */
  jobSha256: string;
  /** The job as the agent ran it, prompts included, upload URLs left out (they expire and vary). */
  job: EvaluationJob;
  /** The machine's hardware report (as verified before anything was pulled); undefined when none was taken. */
  hardware: HardwareReport | undefined;
  /** Docker network mode the arms ran in. */
  networkMode: string;
  /** Build version of the agent that ran the job ("" when unknown). */
  agentVersion: string;
  judge: EvidenceJudgeSettings;
  /** The arm's final result: outcome, summary with findings, correctness, time to token k, GPU figures. */
  result: ArmResult;
  /**
   * The arm's result as it stood when the job's final judging began (measured, provisional
   * verdict, findings of its own run): what `cacheon-agent regrade` judges again. Absent when the
   * job never got to judging (it stopped before, or the arm did not run).
   */
  judgedFrom?: ArmResult;
  /** The timed requests' metrics and outputs (token ids, text, logprobs, per-token arrival times); absent when the arm was not measured. */
  measurement?: { requests: RequestMetrics[]; outputs: GeneratedOutput[] };
  /** Absent for an arm whose outputs were not teacher forced (not measured, or the job stopped before). */
  teacherForced?: EvidenceTeacherForcing;
  /** The container's log as the agent captured it (its LogExcerpt, capped). */
  containerLog: { text: string; truncated: boolean };
}

/** A bundle as bytes, with the digest that names it. */
export interface EncodedEvidence {
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`. */
  sha256: string;
}

/** The job as bundles hold it: the same job, its upload targets cleared. */
export function evidenceJob(job: EvaluationJob): EvaluationJob {
  const copy = clone(EvaluationJobSchema, job);
  copy.uploads = [];
  return copy;
}

/** sha256 of the canonical encoding of a job (upload targets left out). */
export function jobSha256(job: EvaluationJob): string {
  return sha256Hex(canonicalJsonBytes(toJson(EvaluationJobSchema, evidenceJob(job))));
}

/** Encodes a bundle canonically and names it by the sha256 of its bytes. */
export function encodeEvidence(bundle: EvidenceBundle): EncodedEvidence {
  const wire = {
    schema: bundle.schema,
    armId: bundle.armId,
    jobSha256: bundle.jobSha256,
    job: toJson(EvaluationJobSchema, evidenceJob(bundle.job)),
    hardware: bundle.hardware ? toJson(HardwareReportSchema, bundle.hardware) : null,
    networkMode: bundle.networkMode,
    agentVersion: bundle.agentVersion,
    judge: bundle.judge,
    result: toJson(ArmResultSchema, bundle.result),
    judgedFrom: bundle.judgedFrom ? toJson(ArmResultSchema, bundle.judgedFrom) : null,
    measurement: bundle.measurement
      ? {
          requests: bundle.measurement.requests.map((r) => toJson(RequestMetricsSchema, r)),
          outputs: bundle.measurement.outputs,
        }
      : null,
    teacherForced: bundle.teacherForced ?? null,
    containerLog: bundle.containerLog,
  };
  const bytes = canonicalJsonBytes(wire);
  return { bytes, sha256: sha256Hex(bytes) };
}

/**
 * Reads a bundle: the bytes must be canonical, name the expected digest when one is given, carry
 * this schema, and every part must have its shape; the job's digest must match the job it holds.
 * Throws CacheonError("invalid-argument") naming the first problem: a bundle that cannot be read
 * whole is never judged in part.
 */
export function decodeEvidence(
  bytes: Uint8Array,
  options: { expectedSha256?: string; what?: string } = {},
): EvidenceBundle {
  const what = options.what ?? "evidence bundle";
  const sha256 = sha256Hex(bytes);
  if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== sha256)
    throw new CacheonError(
      "invalid-argument",
      `${what} has sha256 ${sha256}, not the ${options.expectedSha256} it should have: it is not the published bundle (changed or another one)`,
    );
  const parsed = wireSchema.safeParse(parseCanonicalJson(bytes, what));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CacheonError(
      "invalid-argument",
      `${what} is not a ${evidenceSchemaName} bundle: ${issue?.path.join(".") || "(top)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  const wire = parsed.data;
  const proto = <T>(name: string, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      throw new CacheonError(
        "invalid-argument",
        `${what}: ${name} is not valid: ${(error as Error).message}`,
      );
    }
  };
  const job = proto("job", () => fromJson(EvaluationJobSchema, wire.job as JsonValue));
  if (job.uploads.length > 0)
    throw new CacheonError(
      "invalid-argument",
      `${what}: job carries upload targets; bundles never hold them`,
    );
  const recomputed = jobSha256(job);
  if (recomputed !== wire.jobSha256)
    throw new CacheonError(
      "invalid-argument",
      `${what}: jobSha256 ${wire.jobSha256} is not the digest of the job it holds (${recomputed})`,
    );
  const result = proto("result", () => fromJson(ArmResultSchema, wire.result as JsonValue));
  const judgedFrom = wire.judgedFrom
    ? proto("judgedFrom", () => fromJson(ArmResultSchema, wire.judgedFrom as JsonValue))
    : undefined;
  for (const r of [result, judgedFrom])
    if (r && r.armId !== wire.armId)
      throw new CacheonError("invalid-argument", `${what}: result is for arm ${r.armId}, not ${wire.armId}`);
  if (!job.arms.some((a) => a.armId === wire.armId))
    throw new CacheonError("invalid-argument", `${what}: arm ${wire.armId} is not in its job`);
  return {
    schema: evidenceSchemaName,
    armId: wire.armId,
    jobSha256: wire.jobSha256,
    job,
    hardware: wire.hardware
      ? proto("hardware", () => fromJson(HardwareReportSchema, wire.hardware as JsonValue))
      : undefined,
    networkMode: wire.networkMode,
    agentVersion: wire.agentVersion,
    judge: wire.judge as EvidenceJudgeSettings,
    result,
    ...(judgedFrom ? { judgedFrom } : {}),
    ...(wire.measurement
      ? {
          measurement: {
            requests: wire.measurement.requests.map((r, i) =>
              proto(`measurement.requests.${i}`, () => fromJson(RequestMetricsSchema, r as JsonValue)),
            ),
            outputs: wire.measurement.outputs as GeneratedOutput[],
          },
        }
      : {}),
    ...(wire.teacherForced ? { teacherForced: wire.teacherForced as EvidenceTeacherForcing } : {}),
    containerLog: wire.containerLog,
  };
}

// Numbers in the non-protobuf parts may be any double (the canonical encoding keeps NaN and
// infinities exact); strings may be anything a server sent.
const num = z.custom<number>((v) => typeof v === "number", "expected a number");
const json: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.null(), z.boolean(), num, z.string(), z.array(json), z.record(z.string(), json)]),
);
const protoJson = z.record(z.string(), json);

const alternative = z.strictObject({ token: z.string(), logprob: num });
const generatedOutput = z.strictObject({
  repetition: z.number().int().nonnegative(),
  requestIndex: z.number().int().nonnegative(),
  promptId: z.string(),
  kind: z.enum(["scored", "probe", "canary"]).optional(),
  ok: z.boolean(),
  text: z.string(),
  tokens: z.array(z.strictObject({ token: z.string(), logprob: num, top: z.array(alternative) })),
  finishReason: z.string(),
  tokenTimesMs: z.array(num).optional(),
  usageCompletionTokens: num.optional(),
  textChars: num.optional(),
  failure: z.string().optional(),
  failureDetail: z.string().optional(),
}) satisfies z.ZodType<GeneratedOutput>;

const wireSchema = z.strictObject({
  schema: z.literal(evidenceSchemaName),
  armId: z.string().min(1),
  jobSha256: z.string().regex(/^[0-9a-f]{64}$/),
  job: protoJson,
  hardware: protoJson.nullable(),
  networkMode: z.string(),
  agentVersion: z.string(),
  judge: z.strictObject({
    thresholds: json.optional(),
    calibrationMultiplier: num.optional(),
    probeMargin: num.optional(),
    outlierFactor: num.optional(),
    expectedGpus: z.number().int().nonnegative(),
  }),
  result: protoJson,
  judgedFrom: protoJson.nullable(),
  measurement: z.strictObject({ requests: z.array(protoJson), outputs: z.array(generatedOutput) }).nullable(),
  teacherForced: z
    .strictObject({
      by: z.string(),
      state: z.enum(["done", "failed"]),
      reason: z.string(),
      outputs: z.array(json),
    })
    .nullable(),
  containerLog: z.strictObject({ text: z.string(), truncated: z.boolean() }),
});
