import { performance } from "node:perf_hooks";
import { BenchAgent, type BenchRequest, type ResponseHandler } from "./bench-agent.ts";
import { type DeferralPool, StreamCapture } from "./stream-capture.ts";
import type { RecordedStream, StreamRecorderOptions } from "./stream-recorder.ts";

/** Options of {@link streamChatCompletion}. */
export interface StreamChatCompletionOptions {
  /** Full URL of the endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions. */
  url: URL;
  /** Serialised request body. */
  body: Buffer;
  /** Connection pool; see {@link createBenchAgent}. */
  agent: BenchAgent;
  /** Recorder limits (max_tokens, caps). */
  recorder: StreamRecorderOptions;
  /** A request not finished after this long fails with "timeout", ms. 0 disables. @default 0 */
  requestTimeoutMs?: number;
  /** A stream silent this long fails with "stall", ms. 0 disables. @default 0 */
  stallTimeoutMs?: number;
  /** Largest SSE event accepted, bytes; larger fails with "oversized-chunk". @default 1 MiB */
  maxEventBytes?: number;
  /** Aborting fails the request with "cancelled" and closes its connection. */
  signal?: AbortSignal;
  /**
   * Body bytes held unparsed until {@link CapturedResponse.record}; past it the stream is parsed as
   * it arrives. 0 parses every read at once. @default see StreamCaptureOptions.deferBytes
   */
  deferBytes?: number;
  /** The run's shared ceiling on unparsed bytes. */
  pool?: DeferralPool;
}

/** What one streamed request gave: the recording plus the send time. */
export interface StreamedResponse extends RecordedStream {
  /** performance.now() just before the request's bytes were handed to the socket. */
  sentAt: number;
  /** Date.now() at the same moment. */
  sentAtUnixMs: number;
  /** HTTP status, 0 when no response arrived. */
  status: number;
  /**
   * performance.now() when the read that ended the stream arrived: the one that carried [DONE] or
   * the event it failed on; else the last byte read (or when the request ended without bytes).
   */
  endedAt: number;
}

/** A settled request whose body is held as it arrived; {@link record} parses it. */
export interface CapturedResponse {
  /** performance.now() just before the request's bytes were handed to the socket. */
  sentAt: number;
  /** Date.now() at the same moment. */
  sentAtUnixMs: number;
  /** HTTP status, 0 when no response arrived. */
  status: number;
  /** Parses the body (the first call; later calls return the same record) and returns the response's record. */
  record(): StreamedResponse;
}

/** Streams with bytes waiting to be parsed; one setImmediate drains them all after this turn's reads. */
let drains: (() => void)[] = [];

function deferDrain(drain: () => void): void {
  drains.push(drain);
  if (drains.length === 1) {
    setImmediate(() => {
      const now = drains;
      drains = [];
      for (const d of now) d();
    });
  }
}

/**
 * The connection pool for load generation against one origin: keep-alive, no cap on connections
 * (a pool limit below the concurrency would queue requests inside the client and inflate TTFT),
 * no Nagle delay, each socket read stamped before any parsing (see {@link BenchAgent}).
 */
export function createBenchAgent(url: URL): BenchAgent {
  return new BenchAgent(url);
}

/**
 * Sends one streaming chat-completions request and records it. Never rejects: every way a
 * request can go wrong (status, socket, stall, timeout, oversized or invalid data, cancellation)
 * ends as a recorded failure with its reason. Arrival times are taken in the socket's data
 * handler before any parsing. Memory per request is bounded by the recorder's caps and the SSE
 * event cap.
 */
export async function streamChatCompletion(options: StreamChatCompletionOptions): Promise<StreamedResponse> {
  return (await captureChatStream(options)).record();
}

/**
 * Sends one streaming chat-completions request and holds its body as it arrives, settling when the
 * stream ends ([DONE], the end of the response, or a failure). The work per socket read is a
 * timestamp and a few byte checks ({@link StreamCapture}): JSON and the recorder run when
 * {@link CapturedResponse.record} is called (after the timed window), or at once when a limit is
 * crossed, so parsing never delays another stream's timestamps or its reads. Never rejects;
 * failures are recorded as {@link streamChatCompletion} describes.
 */
export function captureChatStream(options: StreamChatCompletionOptions): Promise<CapturedResponse> {
  const capture = new StreamCapture({
    recorder: options.recorder,
    maxEventBytes: options.maxEventBytes,
    deferBytes: options.deferBytes,
    pool: options.pool,
  });
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let stall: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let linger: NodeJS.Timeout | undefined;
    let sentAtUnixMs = Date.now();
    let sentAt = performance.now();
    let lastByteAt = Number.NaN;
    let lastActivity = 0;
    let request: BenchRequest | undefined;
    const settle = () => {
      if (settled) return;
      settled = true;
      if (stall) clearTimeout(stall);
      if (deadline) clearTimeout(deadline);
      options.signal?.removeEventListener("abort", onAbort);
      const settledAt = performance.now();
      let recorded: StreamedResponse | undefined;
      resolve({
        sentAt,
        sentAtUnixMs,
        status,
        record: () => {
          if (recorded) return recorded;
          const { stoppedAt, ...rest } = capture.record();
          const endedAt = !Number.isNaN(stoppedAt)
            ? stoppedAt
            : Number.isNaN(lastByteAt)
              ? settledAt
              : lastByteAt;
          recorded = { ...rest, sentAt, sentAtUnixMs, status, endedAt };
          return recorded;
        },
      });
    };
    const stop = (code: Parameters<StreamCapture["fail"]>[0], detail: string) => {
      capture.fail(code, detail);
      request?.abort();
      settle();
    };
    const onAbort = () => stop("cancelled", "the measurement was cancelled");
    // Nothing after [DONE] counts; the connection is reused once the response ends, or closed if
    // the server keeps it open.
    const finish = () => {
      linger = setTimeout(() => request?.abort(), 2000).unref();
      settle();
    };
    // Parsing that cannot wait for the end runs after every socket read in this turn of the event
    // loop has been stamped, so one stream's parsing never delays another's timestamps.
    let drainQueued = false;
    const drain = () => {
      drainQueued = false;
      if (settled) return;
      capture.parse();
      if (capture.failed) {
        // A failed stream is abandoned at once to bound memory and time.
        request?.abort();
        settle();
      } else if (capture.done) finish();
    };
    const errorBody: Buffer[] = [];
    let errorBytes = 0;
    const handler: ResponseHandler = {
      onHead: (code) => {
        status = code;
      },
      onBody: (buffer, start, end, at) => {
        lastActivity = at;
        if (settled) return;
        if (status !== 200) {
          if (errorBytes < 2048) errorBody.push(Buffer.from(buffer.subarray(start, end)));
          errorBytes += end - start;
          return;
        }
        lastByteAt = at;
        const step = capture.push(buffer, start, end, at);
        if (step === "done") finish();
        else if (step === "parse" && !drainQueued) {
          drainQueued = true;
          deferDrain(drain);
        }
      },
      onEnd: (at) => {
        if (linger) clearTimeout(linger);
        if (settled) return;
        if (status !== 200) {
          stop("http-status", `HTTP ${status}: ${Buffer.concat(errorBody).toString("utf8").slice(0, 300)}`);
          return;
        }
        capture.end(at);
        settle();
      },
      onError: (error, stage) => {
        if (linger) clearTimeout(linger);
        if (stage === "request")
          stop("connection", `request to ${options.url.host} failed: ${error.message}`);
        else if (status !== 200) stop("http-status", `HTTP ${status}`);
        else stop("connection", error.message);
      },
    };

    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const stallMs = options.stallTimeoutMs ?? 0;
    if (stallMs > 0) {
      // Re-armed lazily from the last read's time, rather than refreshed on every read.
      const check = () => {
        const silent = performance.now() - lastActivity;
        if (silent >= stallMs) stop("stall", `the server sent nothing for ${stallMs} ms`);
        else stall = setTimeout(check, stallMs - silent);
      };
      stall = setTimeout(check, stallMs);
    }
    const timeoutMs = options.requestTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      deadline = setTimeout(
        () => stop("timeout", `the request did not finish within ${timeoutMs} ms`),
        timeoutMs,
      );
    }
    sentAtUnixMs = Date.now();
    request = options.agent.post(
      options.url.pathname + options.url.search,
      { "Content-Type": "application/json", Accept: "text/event-stream" },
      options.body,
      handler,
    );
    sentAt = request.sentAt;
    lastActivity = sentAt;
  });
}
