import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { SseLimitError, SseParser } from "./sse-parser.ts";
import { type RecordedStream, StreamRecorder, type StreamRecorderOptions } from "./stream-recorder.ts";

/** Options of {@link streamChatCompletion}. */
export interface StreamChatCompletionOptions {
  /** Full URL of the endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions. */
  url: URL;
  /** Serialised request body. */
  body: Buffer;
  /** Connection agent; see {@link createBenchAgent}. */
  agent: http.Agent;
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
}

/** What one streamed request gave: the recording plus the send time. */
export interface StreamedResponse extends RecordedStream {
  /** performance.now() just before the request's bytes were handed to the socket. */
  sentAt: number;
  /** Date.now() at the same moment. */
  sentAtUnixMs: number;
  /** HTTP status, 0 when no response arrived. */
  status: number;
  /** performance.now() when the last byte read arrived (or when the request ended without bytes). */
  endedAt: number;
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
 * An HTTP agent for load generation: keep-alive, no cap on sockets (a pool limit below the
 * concurrency would queue requests inside the client and inflate TTFT), no Nagle delay.
 */
export function createBenchAgent(url: URL): http.Agent {
  const options = {
    keepAlive: true,
    maxSockets: Number.POSITIVE_INFINITY,
    maxFreeSockets: 1024,
    noDelay: true,
  };
  return url.protocol === "https:" ? new https.Agent(options) : new http.Agent(options);
}

/**
 * Sends one streaming chat-completions request and records it. Never rejects: every way a
 * request can go wrong (status, socket, stall, timeout, oversized or invalid data, cancellation)
 * ends as a recorded failure with its reason. Arrival times are taken in the socket's data
 * handler before any parsing. Memory per request is bounded by the recorder's caps and the SSE
 * event cap.
 */
export function streamChatCompletion(options: StreamChatCompletionOptions): Promise<StreamedResponse> {
  const recorder = new StreamRecorder(options.recorder);
  const maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
  const parser = new SseParser((data, at) => recorder.event(data, at), maxEventBytes);
  const transport = options.url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let stall: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let sentAtUnixMs = Date.now();
    let sentAt = performance.now();
    let lastByteAt = Number.NaN;
    // Stamped by a listener placed before the HTTP parser on the socket, so a read is timed before
    // any parsing, even the parsing of its own HTTP framing.
    let socketReadAt = Number.NaN;
    let socket: Socket | undefined;
    const onSocketData = () => {
      socketReadAt = performance.now();
    };
    const settle = () => {
      if (settled) return;
      settled = true;
      socket?.off("data", onSocketData);
      if (stall) clearTimeout(stall);
      if (deadline) clearTimeout(deadline);
      options.signal?.removeEventListener("abort", onAbort);
      const endedAt = Number.isNaN(lastByteAt) ? performance.now() : lastByteAt;
      resolve({ ...recorder.finish(), sentAt, sentAtUnixMs, status, endedAt });
    };
    const stop = (code: Parameters<StreamRecorder["fail"]>[0], detail: string) => {
      recorder.fail(code, detail);
      request.destroy();
      settle();
    };
    const onAbort = () => stop("cancelled", "the measurement was cancelled");

    const request = transport.request(options.url, {
      method: "POST",
      agent: options.agent,
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        "content-length": options.body.length,
      },
    });
    request.on("error", (error) =>
      stop("connection", `request to ${options.url.host} failed: ${error.message}`),
    );
    request.on("socket", (s) => {
      if (settled) return;
      socket = s;
      s.prependListener("data", onSocketData);
    });
    request.on("response", (response) => {
      status = response.statusCode ?? 0;
      if (status !== 200) {
        const parts: Buffer[] = [];
        let size = 0;
        response.on("data", (b: Buffer) => {
          if (size < 2048) parts.push(b);
          size += b.length;
        });
        response.on("end", () =>
          stop("http-status", `HTTP ${status}: ${Buffer.concat(parts).toString("utf8").slice(0, 300)}`),
        );
        response.on("error", () => stop("http-status", `HTTP ${status}`));
        return;
      }
      // The data handler only stamps and queues bytes; parsing runs after every socket readable in
      // this turn of the event loop has been stamped, so one stream's parsing never delays another
      // stream's timestamps.
      const pending: { bytes: Buffer; at: number }[] = [];
      let pendingBytes = 0;
      let drainQueued = false;
      const drain = () => {
        drainQueued = false;
        while (pending.length > 0 && !settled) {
          const { bytes, at } = pending.shift() as { bytes: Buffer; at: number };
          pendingBytes -= bytes.length;
          try {
            parser.push(bytes, at);
          } catch (error) {
            if (error instanceof SseLimitError) stop("oversized-chunk", error.message);
            else stop("invalid-json", (error as Error).message);
            return;
          }
          if (recorder.failed || recorder.done) {
            // Nothing after [DONE] counts; a failed stream is abandoned at once to bound memory.
            if (recorder.failed) request.destroy();
            else setTimeout(() => response.destroy(), 2000).unref();
            settle();
          }
        }
        pending.length = 0;
        pendingBytes = 0;
      };
      response.on("data", (bytes: Buffer) => {
        const now = performance.now();
        // The socket read that carried these bytes. A stamp older than 50 ms cannot be this read's
        // (the body was held back somewhere): then the handler's own time is the better guess.
        const at = socketReadAt <= now && now - socketReadAt < 50 ? socketReadAt : now;
        stall?.refresh();
        if (settled) return;
        lastByteAt = at;
        pending.push({ bytes, at });
        pendingBytes += bytes.length;
        if (pendingBytes > maxEventBytes) drain();
        else if (!drainQueued) {
          drainQueued = true;
          deferDrain(drain);
        }
      });
      response.on("end", () => {
        drain();
        if (!settled) {
          try {
            parser.end(performance.now());
          } catch (error) {
            recorder.fail("oversized-chunk", (error as Error).message);
          }
        }
        settle();
      });
      response.on("error", (error) => stop("connection", `the stream broke: ${error.message}`));
      response.on("aborted", () => stop("connection", "the server closed the stream early"));
    });

    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const stallMs = options.stallTimeoutMs ?? 0;
    if (stallMs > 0) {
      stall = setTimeout(() => stop("stall", `the server sent nothing for ${stallMs} ms`), stallMs);
    }
    const timeoutMs = options.requestTimeoutMs ?? 0;
    if (timeoutMs > 0) {
      deadline = setTimeout(
        () => stop("timeout", `the request did not finish within ${timeoutMs} ms`),
        timeoutMs,
      );
    }
    sentAtUnixMs = Date.now();
    sentAt = performance.now();
    request.end(options.body);
  });
}
