import type Docker from "dockerode";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/** One event of a Docker progress stream (pull, push, build). */
export type ProgressEvent = Record<string, unknown> & {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
};

/**
 * Follows a Docker progress stream to its end. The engine answers pulls and pushes with HTTP 200
 * and reports failures as events inside the stream, so an event carrying `error` or `errorDetail`
 * rejects with CacheonError("unavailable") quoting the engine's message.
 */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent?: (event: ProgressEvent) => void,
  signal?: AbortSignal,
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      reject(new CacheonError("cancelled", `cancelled: ${String(signal?.reason ?? "aborted")}`));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: ProgressEvent[]) => {
        signal?.removeEventListener("abort", onAbort);
        const failed = output?.find((event) => event.error || event.errorDetail);
        if (error) reject(CacheonError.from(error, "unavailable"));
        else if (failed) {
          reject(
            new CacheonError(
              "unavailable",
              `the Docker engine reported: ${failed.errorDetail?.message ?? failed.error ?? JSON.stringify(failed)}`,
            ),
          );
        } else resolve(output ?? []);
      },
      onEvent,
    );
  });
}
