import { setTimeout as sleep } from "node:timers/promises";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import { defaultBodyCapBytes, readCappedText } from "../../shared/http/read-capped-text.ts";

/** Why a container did not become ready. */
export type NotReadyKind = "timeout" | "exited" | "cancelled";

/** Thrown by {@link waitForReady}; `kind` tells the pod job which outcome to record. */
export class NotReadyError extends CacheonError {
  readonly kind: NotReadyKind;
  constructor(kind: NotReadyKind, message: string) {
    super(
      kind === "cancelled" ? "cancelled" : kind === "timeout" ? "deadline-exceeded" : "unavailable",
      message,
    );
    this.kind = kind;
  }
}

/** Options of {@link waitForReady}. */
export interface WaitForReadyOptions {
  /** Base URL, e.g. "http://172.18.0.2:8000". */
  endpoint: string;
  /** Give up after this long from the call, ms. */
  timeoutMs: number;
  /** Model name sent in the probe request. */
  model: string;
  /** Resolves false once the container has exited (checked between polls). */
  isRunning: () => Promise<{ running: boolean; exitCode: number }>;
  /** Pause between polls, ms. @default 500 */
  intervalMs?: number;
  /** Per-request limit of each poll and of the probe, ms. @default 30000 */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Waits until the server answers `/health` with 200 and then completes one small streamed chat
 * request (content, then `[DONE]`). Returns seconds waited. Throws NotReadyError: "timeout" with
 * the last thing seen, "exited" when the container stopped, "cancelled" on abort.
 */
export async function waitForReady(options: WaitForReadyOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const interval = options.intervalMs ?? 500;
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  let last = "no answer yet";
  while (true) {
    if (options.signal?.aborted)
      throw new NotReadyError("cancelled", "cancelled while waiting for readiness");
    const state = await options.isRunning();
    if (!state.running) {
      throw new NotReadyError(
        "exited",
        `the container exited with code ${state.exitCode} before it was ready (last seen: ${last})`,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new NotReadyError(
        "timeout",
        `not ready after ${(options.timeoutMs / 1000).toFixed(1)} s (last seen: ${last}); the server must answer GET /health with 200 and a streamed chat request`,
      );
    }
    const signal = anySignal(options.signal, Math.min(left, requestTimeout));
    try {
      const health = await fetch(`${options.endpoint}/health`, { signal });
      await health.body?.cancel();
      if (health.status === 200) {
        const probe = await probeChat(options.endpoint, options.model, signal);
        if (probe === "ok") return (Date.now() - started) / 1000;
        last = `probe request: ${probe}`;
      } else {
        last = `/health answered ${health.status}`;
      }
    } catch (error) {
      const timedOut = (error as Error).name === "TimeoutError";
      // A request cut by the start-up deadline itself says less than what was seen before it.
      if (!timedOut || Date.now() < deadline - 50 || last === "no answer yet") {
        last = timedOut ? "request timed out" : (error as Error).message;
      }
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), undefined, {
      signal: options.signal,
    }).catch(() => {});
  }
}

/** Sends one small streamed chat request; "ok" or what was wrong. */
export async function probeChat(endpoint: string, model: string, signal: AbortSignal): Promise<string> {
  const response = await fetch(`${endpoint}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: [{ role: "user", content: "Reply with one word." }],
      max_tokens: 4,
      temperature: 0,
      stream: true,
    }),
    signal,
  });
  // A hostile server may answer with an endless body: read 64 KiB at most (a 4-token reply is < 2 KiB).
  const { text, truncated } = await readCappedText(response, defaultBodyCapBytes);
  if (response.status !== 200) return `HTTP ${response.status}`;
  if (truncated) {
    return `the reply to a 4-token request was over ${defaultBodyCapBytes / 1024} KiB; the rest was not read`;
  }
  if (!text.includes("[DONE]")) return "the stream did not end with [DONE]";
  const hasContent = text
    .split("\n")
    .filter((line) => line.startsWith("data:") && !line.includes("[DONE]"))
    .some((line) => {
      try {
        const chunk = JSON.parse(line.slice(5)) as { choices?: Array<{ delta?: { content?: string } }> };
        return Boolean(chunk.choices?.some((c) => c.delta?.content));
      } catch {
        return false;
      }
    });
  return hasContent ? "ok" : "the stream carried no content";
}

function anySignal(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, ms));
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
