import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { UploadGrant } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";

/**
 * Where the session hands the controller's upload grants to the job waiting for them: a job
 * announces an artefact (ArtefactReady) and waits here for the URL bound to it.
 */
export class UploadGrants {
  readonly #waiting = new Map<string, (grant: UploadGrant) => void>();

  /**
   * Waits for the grant answering (job, name). Call before announcing, so a fast answer is not
   * missed. Rejects when `signal` aborts or `timeoutMs` passes.
   */
  wait(
    jobId: string,
    name: string,
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<UploadGrant> {
    const key = `${jobId}\n${name}`;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        options.signal.removeEventListener("abort", onAbort);
        this.#waiting.delete(key);
      };
      const onAbort = () => {
        done();
        reject(CacheonError.from(options.signal.reason ?? new CacheonError("cancelled", "cancelled")));
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new CacheonError(
            "deadline-exceeded",
            `no upload URL for ${name} within ${options.timeoutMs} ms; the artefact is not uploaded`,
          ),
        );
      }, options.timeoutMs);
      options.signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.set(key, (grant) => {
        done();
        resolve(grant);
      });
    });
  }

  /** A grant arrived; one nobody waits for (a resend after reconnect) is ignored. */
  deliver(grant: UploadGrant): void {
    this.#waiting.get(`${grant.jobId}\n${grant.name}`)?.(grant);
  }
}
