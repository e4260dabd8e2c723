import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import type { JobEventPayload, JobExecutor } from "../job/job-executor.ts";
import { uploadArtefact } from "./upload-artefact.ts";

/**
 * Collects, from what a job emits and returns, the raw artefacts its upload targets name:
 * `arms/<arm>/container.log` (log excerpts of the arm and its result's log excerpt) and
 * `arms/<arm>/metrics.jsonl` (one JSON line per request measurement of the arm).
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

/**
 * Wraps an executor so that, when the job carries upload targets, the artefacts are PUT to their
 * pre-signed URLs after the job and an ArtefactUploaded event is emitted for each (before the
 * result, so the controller can verify them). A failed upload is logged and skipped: the result
 * still counts, the controller records the artefact as missing. The agent never holds credentials.
 */
export function withArtefactUploads(executor: JobExecutor, options: { logger?: Logger } = {}): JobExecutor {
  const log = options.logger ?? silentLogger;
  return async (job, context) => {
    if (job.uploads.length === 0) return executor(job, context);
    const events: JobEventPayload[] = [];
    const result = await executor(job, {
      ...context,
      emit: (payload) => {
        events.push(payload);
        context.emit(payload);
      },
    });
    const bodies = artefactBodies(events, result);
    for (const target of job.uploads) {
      const body = Buffer.from(bodies.get(target.name) ?? "", "utf8");
      try {
        const uploaded = await uploadArtefact(job.jobId, target, body, { signal: context.signal });
        context.emit({ case: "artefact", value: uploaded });
      } catch (error) {
        log.warn("artefact upload failed", { jobId: job.jobId, name: target.name, error });
      }
    }
    return result;
  };
}
