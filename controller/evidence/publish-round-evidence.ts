import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { sha256Hex } from "../../shared/evidence/canonical-json.ts";
import { decodeEvidence } from "../../shared/evidence/evidence-bundle.ts";
import { type EvidenceDigest, JobResultSchema } from "../../shared/gen/cacheon/v1/result_pb.ts";
import type { ArtefactSink } from "../publish/artefact-sink.ts";
import type { ControllerStore } from "../store/controller-store.ts";
import type { EvidenceRow } from "../store/evidence-table.ts";
import type { JobRow } from "../store/job-table.ts";
import type { EvidenceStore } from "./evidence-store.ts";

/** Where a bundle is published, relative to the publish root: named by its digest. */
export function publishedEvidenceKey(roundId: string, sha256: string): string {
  return `rounds/${roundId}/evidence/${sha256}.json`;
}

/** The evidence digests a stored job result names (JobResult.evidence); none for a job without a result. */
export function jobEvidenceDigests(job: Pick<JobRow, "result">): EvidenceDigest[] {
  if (job.result === null || job.result === undefined) return [];
  try {
    return fromJson(JobResultSchema, job.result as JsonValue, { ignoreUnknownFields: true }).evidence;
  } catch {
    return [];
  }
}

/** Options of {@link publishRoundEvidence}. */
export interface PublishRoundEvidenceOptions {
  store: ControllerStore;
  sink: ArtefactSink;
  roundId: string;
  /** Where the bundles were kept (artefacts.*); undefined when none is configured. */
  evidence?: EvidenceStore | undefined;
}

/**
 * Publishes the evidence bundles of a settled round's jobs at `rounds/<id>/evidence/<sha256>.json`
 * and records each in `store.evidence`: published, or why not. A bundle is published only when
 * the kept bytes are the ones the agent named in its result (their sha256) and they read as a
 * bundle of that job and arm; anything else is recorded as a problem, never published in its
 * place. Returns the number of bundles published.
 */
export async function publishRoundEvidence(options: PublishRoundEvidenceOptions): Promise<number> {
  const { store, sink, roundId } = options;
  const rows: EvidenceRow[] = [];
  for (const job of store.jobs.list(roundId)) {
    for (const digest of jobEvidenceDigests(job)) {
      const row: EvidenceRow = {
        jobId: job.id,
        armId: digest.armId,
        sha256: digest.sha256,
        bytes: Number(digest.sizeBytes),
        publishedKey: null,
        problem: "",
      };
      rows.push(row);
      if (!options.evidence) {
        row.problem = "not kept: artefacts.target is none";
        continue;
      }
      const bytes = await options.evidence.read(job.id, digest.name);
      if (!bytes) {
        row.problem = `not found in ${options.evidence.location} (never uploaded, or refused when checked)`;
        continue;
      }
      const sha256 = sha256Hex(bytes);
      if (sha256 !== digest.sha256) {
        row.problem = `the kept bytes have sha256 ${sha256}, not the ${digest.sha256} the agent named`;
        continue;
      }
      try {
        const bundle = decodeEvidence(bytes, { expectedSha256: digest.sha256 });
        if (bundle.job.jobId !== job.id || bundle.armId !== digest.armId)
          throw new CacheonError(
            "invalid-argument",
            `it is the bundle of ${bundle.job.jobId}/${bundle.armId}, not ${job.id}/${digest.armId}`,
          );
      } catch (error) {
        row.problem = `not a bundle of this arm: ${CacheonError.from(error).message}`;
        continue;
      }
      const key = publishedEvidenceKey(roundId, digest.sha256);
      await sink.put(key, bytes, "application/json");
      row.publishedKey = key;
    }
  }
  store.transaction(() => {
    for (const row of rows) store.evidence.put(row);
  });
  return rows.filter((r) => r.publishedKey !== null).length;
}
