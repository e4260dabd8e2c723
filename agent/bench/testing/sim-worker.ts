/**
 * Runs the reference server in a worker thread for timing tests: the client under test keeps its
 * own event loop, as it would against a real server, and the worker records when the server
 * actually wrote every token (the truth the client's timestamps are checked against; a busy
 * machine fires the server's timers late, and that lateness is the server's, not a measurement
 * error). Times are absolute (performance.timeOrigin + performance.now()), comparable across threads.
 */
import { ServerResponse } from "node:http";
import { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type SimLlmOptions, startSimLlm } from "../../../sim-llm/sim-llm-server.ts";
import type { WorkloadRun } from "../run-workload.ts";

/** What the server wrote for one response. */
export interface ServedResponse {
  /** Chosen tokens, as the client sees them in logprobs. */
  tokens: string[];
  /** Absolute time (performance.timeOrigin + performance.now(), ms) each token was handed to the socket. */
  at: number[];
}

/** A reference server running in a worker thread. */
export interface SimWorker {
  url: string;
  /** Every response's tokens with the absolute time (ms) each reached its socket, in response order. */
  writes(): Promise<ServedResponse[]>;
  /**
   * The worker's absolute clock minus this thread's, ms, from the ping with the shortest round
   * trip (thread clocks can differ by about a millisecond).
   */
  clockOffset(): Promise<number>;
  close(): Promise<void>;
}

/** Starts the reference server in a worker thread. */
export async function startSimWorker(options: Omit<SimLlmOptions, "logger" | "onCrash">): Promise<SimWorker> {
  const worker = new Worker(new URL(import.meta.url), { workerData: options });
  const ask = <T>(message: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: { type: string; value: T }) => {
        if (m.type !== message) return;
        worker.off("message", onMessage);
        worker.off("error", reject);
        resolve(m.value);
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      if (message !== "ready") worker.postMessage(message);
    });
  const url = await ask<string>("ready");
  return {
    url,
    writes: () => ask<ServedResponse[]>("writes"),
    clockOffset: async () => {
      let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
      for (let i = 0; i < 50; i++) {
        const sent = performance.timeOrigin + performance.now();
        const theirs = await ask<number>("time");
        const back = performance.timeOrigin + performance.now();
        if (back - sent < best.rtt) best = { rtt: back - sent, offset: theirs - (sent + back) / 2 };
      }
      return best.offset;
    },
    close: async () => {
      await ask<null>("closed");
      await worker.terminate();
    },
  };
}

/**
 * Per request, measured minus true TTFT and TPOT, where the truth is when the server handed each
 * token to its socket. Requests are matched to responses by their token sequence.
 */
export async function errorsAgainstServer(
  run: WorkloadRun,
  s: SimWorker,
): Promise<{ ttft: number[]; tpot: number[]; token: number[] }> {
  const served = await s.writes();
  const origin = performance.timeOrigin + run.originMs + (await s.clockOffset());
  const byTokens = new Map(served.map((r) => [r.tokens.join(","), r]));
  const ttft: number[] = [];
  const tpot: number[] = [];
  const token: number[] = [];
  for (const t of run.timeline) {
    const output = run.outputs[t.requestIndex];
    const truth = byTokens.get(output?.tokens.map((x) => x.token).join(",") ?? "");
    if (!truth) throw new Error(`request ${t.requestIndex} matches no response the server wrote`);
    const metrics = run.requests[t.requestIndex];
    const sent = origin + t.sentMs;
    const first = truth.at[0] ?? Number.NaN;
    const last = truth.at.at(-1) ?? Number.NaN;
    ttft.push((metrics?.ttftMs ?? Number.NaN) - (first - sent));
    tpot.push((metrics?.tpotMs ?? Number.NaN) - (last - first) / (truth.at.length - 1));
    for (const [i, at] of truth.at.entries()) {
      token.push((output?.tokenTimesMs?.[i] ?? Number.NaN) - (at - sent));
    }
  }
  return { ttft, tpot, token };
}

if (!isMainThread && parentPort && workerData) {
  const port = parentPort;
  const byResponse = new Map<ServerResponse, ServedResponse>();
  // Tokens written to a response wait here until its socket really writes them: Node's http corks
  // a response's socket and flushes it later, so the truth is stamped in the socket's own write.
  const waiting = new Map<Socket, { served: ServedResponse; tokens: string[] }[]>();
  const stamp = (socket: Socket) => {
    const queued = waiting.get(socket);
    if (!queued) return;
    waiting.delete(socket);
    const at = performance.timeOrigin + performance.now();
    for (const { served, tokens } of queued) {
      for (const token of tokens) {
        served.tokens.push(token);
        served.at.push(at);
      }
    }
  };
  const socketProto = Socket.prototype as unknown as Record<
    "_write" | "_writev",
    (...a: unknown[]) => unknown
  >;
  for (const name of ["_write", "_writev"] as const) {
    const originalWrite = socketProto[name];
    socketProto[name] = function (this: Socket, ...args: unknown[]) {
      stamp(this);
      return originalWrite.apply(this, args);
    };
  }
  const original = ServerResponse.prototype.write;
  ServerResponse.prototype.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : "";
    const tokens: string[] = [];
    for (const line of text.split("\n")) {
      if (!line.startsWith("data: {")) continue;
      try {
        const entries = JSON.parse(line.slice(6))?.choices?.[0]?.logprobs?.content;
        if (Array.isArray(entries)) for (const e of entries) tokens.push(String(e.token));
      } catch {
        // Not a JSON event (a misbehaving mode); no tokens to time.
      }
    }
    if (tokens.length > 0 && this.socket) {
      const served = byResponse.get(this) ?? { tokens: [], at: [] };
      byResponse.set(this, served);
      const queued = waiting.get(this.socket) ?? [];
      queued.push({ served, tokens });
      waiting.set(this.socket, queued);
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof original;
  const sim = await startSimLlm(workerData as SimLlmOptions);
  port.on("message", async (message: string) => {
    if (message === "time")
      port.postMessage({ type: "time", value: performance.timeOrigin + performance.now() });
    if (message === "writes") port.postMessage({ type: "writes", value: [...byResponse.values()] });
    if (message === "closed") {
      await sim.close();
      port.postMessage({ type: "closed", value: null });
    }
  });
  port.postMessage({ type: "ready", value: sim.url });
}
