import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { ArtefactReadySchema, type UploadGrant } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { JobContext, JobEventPayload, JobExecutor } from "../job/job-executor.ts";
import { uploadArtefact } from "./upload-artefact.ts";
import type { UploadGrants } from "./upload-grants.ts";

/**
 * Collects, from what a job emits and returns, the raw artefacts its upload targets name:
 * `arms/<arm>/container.log` (log excerpts of the arm and its result's log excerpt) and
 * `arms/<arm>/metrics.jsonl` (one JSON line per request measurement of the arm). The evidence
 * bundles (`arms/<arm>/evidence.json`) are not collected here: the job hands them over itself.
 */
export function artefactBodies(
  events: JobEventPayload[],
  result: { arms: { armId: string; logExcerpt: string }[] },
) {
  const bodies = new Map<string, string>();
  const add = (name: string, text: string) => bodies.set(name, (bodies.get(name) ?? "") + text);
  for (const event of events) {
    if (event.case === "log" && event.value.armId)
      add(`arms/${event.value.armId}/container.log`, event.value.text);
    if (event.case === "metrics")
      for (const m of event.value.metrics)
        add(
          `arms/${m.armId}/metrics.jsonl`,
          `${JSON.stringify(m, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`,
        );
  }
  for (const arm of result.arms) add(`arms/${arm.armId}/container.log`, arm.logExcerpt);
  return bodies;
}

/** Options of {@link withArtefactUploads}. */
export interface ArtefactUploadOptions {
  /** @default silentLogger */
  logger?: Logger;
  /**
   * Where the session delivers upload grants. Targets without a URL (what a controller sends)
   * are announced with ArtefactReady and uploaded to the URL granted for exactly those bytes;
   * without it such targets are skipped.
   */
  grants?: UploadGrants;
  /** Longest wait for a grant, ms. @default 120000 */
  grantTimeoutMs?: number;
}

/**
 * Wraps an executor so that, when the job names upload targets, the artefacts are uploaded after
 * the job and an ArtefactUploaded event is emitted for each (before the result, so the
 * controller can verify them). A target without a URL is announced first (ArtefactReady: name,
 * size, sha256) and uploaded to the URL the controller grants for exactly those bytes; a target
 * with a URL is uploaded to it. A failed or refused upload is logged and skipped: the result
 * still counts, the controller records the artefact as missing. The agent never holds credentials.
 */
export function withArtefactUploads(executor: JobExecutor, options: ArtefactUploadOptions = {}): JobExecutor {
  const log = options.logger ?? silentLogger;
  return async (job, context) => {
    if (job.uploads.length === 0) return executor(job, context);
    const events: JobEventPayload[] = [];
    // What the job handed over itself (each arm's evidence bundle), byte for byte.
    const handed = new Map<string, Uint8Array>();
    const result = await executor(job, {
      ...context,
      emit: (payload) => {
        events.push(payload);
        context.emit(payload);
      },
      artefact: (name, body) => {
        handed.set(name, body);
        context.artefact?.(name, body);
      },
    });
    const bodies = artefactBodies(events, result);
    for (const target of job.uploads) {
      // A target the job made nothing for is uploaded empty, as before: the controller waits for
      // every target, and publishes a bundle only when the result names its digest.
      const body = handed.get(target.name) ?? Buffer.from(bodies.get(target.name) ?? "", "utf8");
      try {
        let url = target;
        let headers: Record<string, string> = {};
        if (!target.url) {
          if (!options.grants)
            throw new CacheonError("failed-precondition", "no way to ask for an upload URL");
          const grant = await announce(
            options.grants,
            job.jobId,
            target.name,
            body,
            context,
            options.grantTimeoutMs,
          );
          if (grant.refused || !grant.target)
            throw new CacheonError("permission-denied", grant.refused || "refused");
          url = grant.target;
          headers = grant.headers;
        }
        const uploaded = await uploadArtefact(job.jobId, url, body, { signal: context.signal, headers });
        context.emit({ case: "artefact", value: uploaded });
      } catch (error) {
        log.warn("artefact upload failed", { jobId: job.jobId, name: target.name, error });
      }
    }
    return result;
  };
}

/** Announces a body and waits for the controller's grant for it. */
async function announce(
  grants: UploadGrants,
  jobId: string,
  name: string,
  body: Uint8Array,
  context: JobContext,
  timeoutMs = 120_000,
): Promise<UploadGrant> {
  const granted = grants.wait(jobId, name, { signal: context.signal, timeoutMs });
  context.emit({
    case: "artefactReady",
    value: create(ArtefactReadySchema, {
      jobId,
      name,
      sha256: createHash("sha256").update(body).digest("hex"),
      sizeBytes: BigInt(body.byteLength),
    }),
  });
  return await granted;
}
