import { create, type JsonValue } from "@bufbuild/protobuf";
import type { GeneratedOutput } from "../../shared/correctness/generated-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import {
  type EncodedEvidence,
  type EvidenceBundle,
  type EvidenceJudgeSettings,
  type EvidenceTeacherForcing,
  encodeEvidence,
  evidenceJob,
  evidenceSchemaName,
  jobSha256,
} from "../../shared/evidence/evidence-bundle.ts";
import type { EvaluationJob } from "../../shared/gen/cacheon/v1/job_pb.ts";
import {
  type ArmResult,
  type EvidenceDigest,
  EvidenceDigestSchema,
  type JobResult,
} from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { TeacherForce } from "./pod-job-options.ts";
import type { ArmRun } from "./run-arm.ts";

/** The artefact name an arm's bundle is uploaded as. */
export function evidenceArtefactName(armId: string): string {
  return `arms/${armId}/evidence.json`;
}

/** What the job recorded for its bundles, besides the job and its result. */
export interface JobEvidenceInput {
  job: EvaluationJob;
  /** The final result, every arm's in the job's order. */
  result: JobResult;
  /** The runs by arm id (their measurements); arms that never ran have none. */
  runs: ReadonlyMap<string, ArmRun>;
  /** Each arm's result as the job's final judging began, by arm id (none when it never began). */
  judgedFrom: ReadonlyMap<string, ArmResult>;
  /** The teacher forcing of each arm's outputs, by arm id. */
  teacherForced: ReadonlyMap<string, EvidenceTeacherForcing>;
  /** Each arm's container log as captured (its LogExcerpt event), by arm id. */
  logs: ReadonlyMap<string, { text: string; truncated: boolean }>;
  judge: EvidenceJudgeSettings;
  agentVersion: string;
}

/** One bundle per arm of the job, in the job's order (also for arms that never ran). Pure. */
export function jobEvidence(input: JobEvidenceInput): EvidenceBundle[] {
  const job = evidenceJob(input.job);
  const digest = jobSha256(job);
  return input.result.arms.map((result): EvidenceBundle => {
    const measurement = input.runs.get(result.armId)?.measurement;
    const teacherForced = input.teacherForced.get(result.armId);
    const judgedFrom = input.judgedFrom.get(result.armId);
    return {
      schema: evidenceSchemaName,
      armId: result.armId,
      jobSha256: digest,
      job,
      hardware: input.result.hardware,
      networkMode: input.result.networkMode,
      agentVersion: input.agentVersion,
      judge: input.judge,
      result,
      ...(judgedFrom ? { judgedFrom } : {}),
      ...(measurement
        ? { measurement: { requests: measurement.requests, outputs: measurement.outputs } }
        : {}),
      ...(teacherForced ? { teacherForced } : {}),
      containerLog: input.logs.get(result.armId) ?? { text: result.logExcerpt, truncated: false },
    };
  });
}

/**
 * Encodes a job's bundles and lists them in its result (JobResult.evidence). A bundle that cannot
 * be encoded is left out with the reason in the job's log rather than failing the job: the
 * verdicts stand, and a job without a digest for an arm is one nobody can re-judge (the
 * controller and readers see it missing).
 */
export function encodeJobEvidence(
  bundles: readonly EvidenceBundle[],
  onProblem: (armId: string, error: CacheonError) => void,
): { digest: EvidenceDigest; encoded: EncodedEvidence }[] {
  const out: { digest: EvidenceDigest; encoded: EncodedEvidence }[] = [];
  for (const bundle of bundles) {
    try {
      const encoded = encodeEvidence(bundle);
      out.push({
        encoded,
        digest: create(EvidenceDigestSchema, {
          armId: bundle.armId,
          sha256: encoded.sha256,
          sizeBytes: BigInt(encoded.bytes.byteLength),
          name: evidenceArtefactName(bundle.armId),
        }),
      });
    } catch (error) {
      onProblem(bundle.armId, CacheonError.from(error));
    }
  }
  return out;
}

/**
 * Wraps the job's teacher forcing so what the reference returned for each arm's outputs (or
 * why it failed) is kept for the bundles, exactly as the judge read it. `armOf` names the arm
 * whose outputs these are.
 */
export function recordTeacherForcing(
  teacherForce: TeacherForce,
  options: { by: () => string; armOf: (outputs: GeneratedOutput[]) => string | undefined },
): { teacherForce: TeacherForce; recorded: Map<string, EvidenceTeacherForcing> } {
  const recorded = new Map<string, EvidenceTeacherForcing>();
  return {
    recorded,
    teacherForce: async (input) => {
      const armId = options.armOf(input.outputs);
      try {
        const scores = await teacherForce(input);
        if (armId)
          recorded.set(armId, {
            by: options.by(),
            state: "done",
            reason: "",
            outputs: scores as unknown as JsonValue[],
          });
        return scores;
      } catch (error) {
        if (armId && !input.signal.aborted)
          recorded.set(armId, {
            by: options.by(),
            state: "failed",
            reason: CacheonError.from(error).message,
            outputs: [],
          });
        throw error;
      }
    },
  };
}

/** What {@link attachJobEvidence} needs besides the bundles' parts. */
export interface AttachJobEvidenceInput extends JobEvidenceInput {
  /** Receives each encoded bundle under its artefact name (uploads, a local folder); none when absent. */
  artefact?: ((name: string, body: Uint8Array) => void) | undefined;
  onProblem: (armId: string, error: CacheonError) => void;
}

/**
 * Builds and encodes a job's bundles, lists their digests in `result.evidence` and hands each
 * to `artefact`. The agent's one call at the end of a job.
 */
export function attachJobEvidence(input: AttachJobEvidenceInput): void {
  for (const { digest, encoded } of encodeJobEvidence(jobEvidence(input), input.onProblem)) {
    input.result.evidence.push(digest);
    try {
      input.artefact?.(digest.name, encoded.bytes);
    } catch (error) {
      input.onProblem(digest.armId, CacheonError.from(error));
    }
  }
}
