import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { findingsAgainstServer } from "../../shared/findings/findings-against-server.ts";
import { type Distribution, TokenCountSource } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { type WorkloadSpec, WorkloadSpecSchema } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { type RunningSimLlm, type SimLlmOptions, startSimLlm } from "../../sim-llm/sim-llm-server.ts";
import type { Prompt } from "../workload/prompt.ts";
import { judgeProbes } from "./judge-probes.ts";
import { chatUrl, runWorkload } from "./run-workload.ts";
import { errorsAgainstServer, type SimWorker, startSimWorker } from "./testing/sim-worker.ts";

const model = "Qwen/Qwen2.5-72B-Instruct";
const servers: (RunningSimLlm | SimWorker)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function simWorker(options: SimLlmOptions): Promise<SimWorker> {
  const s = await startSimWorker(options);
  servers.push(s);
  return s;
}

async function sim(options: SimLlmOptions): Promise<RunningSimLlm> {
  const s = await startSimLlm(options);
  servers.push(s);
  return s;
}

/** Short prompts, so the server's own prompt processing adds next to nothing to TTFT. */
const shortPrompts: Prompt[] = Array.from({ length: 64 }, (_, i) => ({
  id: `short-${i}`,
  messages: [{ role: "user", content: `Count to ${i + 3}, please.` }],
}));

type WorkloadInit = MessageInitShape<typeof WorkloadSpecSchema>;

function workload(over: WorkloadInit & { concurrency?: number } = {}): WorkloadSpec {
  const { concurrency, ...rest } = over;
  return create(WorkloadSpecSchema, {
    model,
    requests: 4,
    warmupRequests: 0,
    maxTokens: 16,
    fixedOutputLength: true,
    topLogprobs: 5,
    repetitions: 1,
    requestTimeoutMs: 30_000,
    stallTimeoutMs: 10_000,
    arrival: { process: { case: "closedLoop", value: { concurrency: concurrency ?? 1 } } },
    ...(rest as object),
  });
}

function dist(d: Distribution | undefined): Distribution {
  if (!d) throw new Error("summary lacks a distribution");
  return d;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

/** The most intervals [start, end] open at one moment. */
function maxOverlap(intervals: [number, number][]): number {
  const events = intervals.flatMap(([a, b]): [number, number][] => [
    [a, 1],
    [b, -1],
  ]);
  // At equal times an end closes before a start opens: touching intervals do not overlap.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, step] of events) {
    open += step;
    most = Math.max(most, open);
  }
  return most;
}

/** Step costs with no per-token or per-sequence terms: TTFT and TPOT are exactly the injected values. */
const exact = (prefillMs: number, decodeMs: number) => ({
  prefillBaseMs: prefillMs,
  prefillMsPerPromptToken: 0,
  decodeStepBaseMs: decodeMs,
  decodeStepMsPerRunning: 0,
  maxBatch: 256,
});

describe("runWorkload timing against the reference server", () => {
  it("measures TTFT and TPOT within 1 ms of the truth at concurrency 1", async () => {
    const s = await simWorker({ timing: exact(40, 8) });
    const run = await runWorkload({
      endpoint: s.url,
      workload: workload({ requests: 8, warmupRequests: 2 }),
      roundSeed: "01",
      prompts: shortPrompts,
    });
    expect(run.summary.completed).toBe(8);
    const errors = await errorsAgainstServer(run, s);
    expect(errors.ttft).toHaveLength(8);
    expect(Math.abs(median(errors.ttft))).toBeLessThan(1);
    expect(Math.abs(median(errors.tpot))).toBeLessThan(1);
    // Every token's arrival time (time to token k), not only the first and the last.
    expect(errors.token).toHaveLength(8 * 16);
    expect(Math.abs(median(errors.token))).toBeLessThan(1);
    expect(Math.min(...errors.token)).toBeGreaterThan(-1);
    // And the truth is what was injected: a 40 ms prefill step, then 8 ms per token (server timer lateness aside).
    expect(dist(run.summary.ttftMs).p50).toBeGreaterThan(39.5);
    expect(Math.abs(dist(run.summary.tpotMs).p50 - 8)).toBeLessThan(1);
    for (const r of run.requests) {
      expect(r.outputTokens).toBe(16);
      expect(r.tokenCountSource).toBe(TokenCountSource.LOGPROBS);
      expect(r.usageCompletionTokens).toBe(16);
      expect(r.contentChunks).toBe(16);
    }
  });

  it("at concurrency 64 counts every token, never reports one early, and tracks the injected TPOT", async () => {
    const prefill = 150;
    const decode = 10;
    const s = await simWorker({ timing: exact(prefill, decode) });
    const run = await runWorkload({
      endpoint: s.url,
      // 48 tokens: a late timestamp on one token moves TPOT by 1/47 of its lateness.
      workload: workload({ requests: 64, concurrency: 64, warmupRequests: 2, maxTokens: 48 }),
      roundSeed: "02",
      prompts: shortPrompts,
    });
    expect(run.summary.completed).toBe(64);
    const errors = await errorsAgainstServer(run, s);
    expect(errors.ttft).toHaveLength(64);
    // No request sees its first token before the server wrote it (clock alignment within 1 ms).
    expect(Math.min(...errors.ttft)).toBeGreaterThan(-1);
    // Accuracy at 64 streams depends on how busy the machine is (63 first tokens leave in one burst,
    // and every decode step is a burst of 64 writes): bench/bench-client-accuracy.ts measures it
    // (sub-millisecond on a quiet machine); beside other test files only a loose bound holds.
    expect(Math.abs(median(errors.tpot))).toBeLessThan(3);
    // Against the server's own write times, not the injected step: a loaded machine fires the
    // server's timers late (and the sim then catches up), and that is the server's pace, which the
    // client must report.
    const served = await s.writes();
    const trueTpot = served.map((r) => ((r.at.at(-1) as number) - (r.at[0] as number)) / (r.at.length - 1));
    expect(Math.abs(dist(run.summary.tpotMs).p50 - median(trueTpot))).toBeLessThan(3);
    // No queue inside the client (a connection pool below the concurrency would hold requests back
    // and inflate TTFT): the server had all 64 streams open at once.
    expect(maxOverlap(served.map((r) => [r.at[0] as number, r.at.at(-1) as number]))).toBe(64);
    // The client reports its own load in the timed window, and the parsing it left for after it.
    expect(run.clientLoad).toHaveLength(1);
    expect(run.summary.clientLoad).toHaveLength(1);
    expect(run.clientLoad[0]?.wallS).toBeGreaterThan(0.15);
    expect(run.clientLoad[0]?.cpuS).toBeGreaterThan(0);
    expect(run.clientLoad[0]?.parseCpuS).toBeGreaterThan(0);
  });

  it("ignores an early role chunk: TTFT is the first content, not the first byte", async () => {
    const s = await sim({ mode: "role-then-stall", timing: exact(120, 2) });
    const run = await runWorkload({
      endpoint: s.url,
      workload: workload({ requests: 2 }),
      roundSeed: "03",
      prompts: shortPrompts,
    });
    expect(run.summary.completed).toBe(2);
    expect(dist(run.summary.ttftMs).min).toBeGreaterThan(119);
  });

  it("is not fooled by stream buffering: TTFT and E2E both land at the burst", async () => {
    const s = await sim({ mode: "stream-buffering", timing: exact(20, 10) });
    const run = await runWorkload({
      endpoint: s.url,
      workload: workload({ requests: 2 }),
      roundSeed: "04",
      prompts: shortPrompts,
    });
    expect(run.summary.completed).toBe(2);
    // Generation takes 20 + 15 x 10 ms; nothing arrives before all of it.
    expect(dist(run.summary.ttftMs).min).toBeGreaterThan(169);
    // Per request (the server's pace may differ between requests on a loaded machine): the first
    // token lands with the last.
    for (const r of run.requests) expect(r.e2eMs - r.ttftMs).toBeLessThan(0.1 * r.e2eMs);
    expect(dist(run.summary.tpotMs).max).toBeLessThan(1);
    expect(run.summary.outputTokens).toBe(32n);
    // Time to token k lands at the burst for every k: holding tokens back buys nothing.
    for (const o of run.outputs) {
      expect(o.tokenTimesMs).toHaveLength(16);
      expect(Math.min(...(o.tokenTimesMs ?? []))).toBeGreaterThan(169);
    }
  });

  it("fails token inflation past max_tokens and lying usage, naming the reason", async () => {
    const inflating = await sim({ mode: "token-inflation", timing: exact(0, 0) });
    const a = await runWorkload({
      endpoint: inflating.url,
      workload: workload({ requests: 2 }),
      roundSeed: "05",
      prompts: shortPrompts,
    });
    expect(a.summary.failuresByCode).toEqual({ "exceeds-max-tokens": 2 });
    expect(a.requests[0]?.failureDetail).toBe("the stream sent 17 tokens, more than max_tokens=16");

    const lying = await sim({ mode: "false-usage", timing: exact(0, 0) });
    const b = await runWorkload({
      endpoint: lying.url,
      workload: workload({ requests: 2 }),
      roundSeed: "05",
      prompts: shortPrompts,
    });
    expect(b.summary.failuresByCode).toEqual({ "usage-mismatch": 2 });
    expect(b.requests[0]?.failureDetail).toBe(
      "usage.completion_tokens=27 but logprobs.content held 16 tokens",
    );
    const flagged = await runWorkload({
      endpoint: lying.url,
      workload: workload({ requests: 2 }),
      roundSeed: "05",
      prompts: shortPrompts,
      usageMismatch: "flag",
    });
    expect(flagged.summary.completed).toBe(2);
    expect(flagged.summary.findings).toContain(
      "2 request(s) reported usage.completion_tokens different from the tokens streamed",
    );
    expect(flagged.summary.outputTokens).toBe(32n);
  });

  it("records broken streams as failures and stays up: invalid JSON, huge chunk, hang, early stop", async () => {
    const run = async (options: SimLlmOptions, over: WorkloadInit = {}) => {
      const s = await sim({ timing: exact(0, 1), ...options });
      return runWorkload({
        endpoint: s.url,
        workload: workload({ requests: 2, ...over }),
        roundSeed: "06",
        prompts: shortPrompts,
      });
    };
    expect((await run({ mode: "invalid-json" })).summary.failuresByCode).toEqual({ "invalid-json": 2 });
    expect((await run({ mode: "huge-chunk" })).summary.failuresByCode).toEqual({ "oversized-chunk": 2 });
    const hang = await run({ mode: "hang-mid-stream" }, { stallTimeoutMs: 300 });
    expect(hang.summary.failuresByCode).toEqual({ stall: 2 });
    expect(hang.requests[0]?.failureDetail).toBe("the server sent nothing for 300 ms");
    const timeout = await run({ mode: "slow-drip", dripMs: 5 }, { requestTimeoutMs: 300, requests: 1 });
    expect(timeout.summary.failuresByCode).toEqual({ timeout: 1 });
    // Early stop is a valid stream: the speed side records it; the correctness side judges it.
    const early = await run({ mode: "early-stop" }, { fixedOutputLength: false });
    expect(early.summary.completed).toBe(2);
    expect(early.requests[0]?.outputTokens).toBe(8);
  });

  it("records the same outputs whether it parses after the timed window or as bytes arrive", async () => {
    const s = await sim({ timing: exact(5, 1) });
    const runs = [];
    // Default (parse after the window), past a tiny run-wide ceiling (parse as bytes arrive once a
    // few bytes are held), and never deferring.
    for (const maxUnparsedBytes of [undefined, 64, 0]) {
      runs.push(
        await runWorkload({
          endpoint: s.url,
          workload: workload({ requests: 8, concurrency: 4, repetitions: 2 }),
          roundSeed: "0b",
          prompts: shortPrompts,
          ...(maxUnparsedBytes === undefined ? {} : { maxUnparsedBytes }),
        }),
      );
    }
    const [deferred, capped, eager] = runs.map((run) => ({
      outputs: run.outputs.map(({ tokenTimesMs, ...rest }) => ({ ...rest, times: tokenTimesMs?.length })),
      requests: run.requests.map((r) => [r.ok, r.outputTokens, r.contentChunks, r.tokenCountSource]),
    }));
    expect(deferred?.outputs).toHaveLength(16);
    expect(deferred?.requests.every(([ok, tokens]) => ok === true && tokens === 16)).toBe(true);
    expect(capped).toEqual(deferred);
    expect(eager).toEqual(deferred);
  });

  it("records a server that is not there, and HTTP errors, as failures", async () => {
    const s = await sim({ timing: exact(0, 0) });
    const wrongModel = await runWorkload({
      endpoint: s.url,
      model: "not-the-served-model",
      workload: workload({ requests: 1 }),
      roundSeed: "07",
      prompts: shortPrompts,
    });
    expect(wrongModel.requests[0]?.failure).toBe("http-status");
    expect(wrongModel.requests[0]?.failureDetail).toMatch(/^HTTP 404/);
    await s.close();
    const gone = await runWorkload({
      endpoint: s.url,
      workload: workload({ requests: 1 }),
      roundSeed: "07",
      prompts: shortPrompts,
    });
    expect(gone.requests[0]?.failure).toBe("connection");
    expect(gone.requests[0]?.failureDetail).toMatch(/ECONNREFUSED/);
  });

  it("keeps what shows a response cache: repeats of the same prompts, judged against an honest server's", async () => {
    const honest = await sim({ timing: exact(30, 5) });
    const cache = await sim({ mode: "response-cache", timing: exact(30, 5) });
    const measure = (endpoint: string) =>
      runWorkload({
        endpoint,
        workload: workload({ requests: 3, repetitions: 3 }),
        roundSeed: "08",
        prompts: shortPrompts,
      });
    const clean = await measure(honest.url);
    const run = await measure(cache.url);
    expect(run.summary.repetitionWallS).toHaveLength(3);
    expect(run.summary.requests).toBe(9);
    expect(run.outputs).toHaveLength(9);
    // The arm's summary judges nothing about repeats on its own; against the baseline's, the cache shows.
    expect(findingsAgainstServer(run.summary.findings), run.summary.findings.join("\n")).toEqual([]);
    expect(judgeProbes({ arm: run.outputs, baselines: [clean.outputs] })).toMatch(
      /^repeat-speedup: .*responses may be cached/,
    );
    expect(judgeProbes({ arm: clean.outputs, baselines: [clean.outputs] })).toBeUndefined();
  });

  it("excludes warm-up requests and reports client queueing under Poisson arrivals", async () => {
    const s = await sim({ timing: exact(20, 2) });
    const progress: number[] = [];
    const run = await runWorkload({
      endpoint: s.url,
      workload: workload({
        requests: 6,
        warmupRequests: 2,
        arrival: { process: { case: "poisson" as const, value: { ratePerS: 1000, maxConcurrency: 1 } } },
      }),
      roundSeed: "09",
      prompts: shortPrompts,
      onProgress: (done, total) => progress.push(done / total),
    });
    expect(run.requests).toHaveLength(6);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toHaveLength(8);
    // Arrivals every ~1 ms with one request in flight at a time: later requests wait in the client.
    expect(dist(run.summary.queuedMs).max).toBeGreaterThan(50);
  });

  it("stops on abort and rejects with cancelled", async () => {
    const s = await sim({ timing: exact(5000, 1) });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    await expect(
      runWorkload({
        endpoint: s.url,
        workload: workload({ requests: 2 }),
        roundSeed: "0a",
        prompts: shortPrompts,
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ code: "cancelled" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("rejects bad options before sending anything", async () => {
    await expect(
      runWorkload({ endpoint: "not a url", workload: workload(), roundSeed: "01" }),
    ).rejects.toThrow(/is not a URL/);
    await expect(
      runWorkload({ endpoint: "http://127.0.0.1:1", workload: workload({ model: "" }), roundSeed: "01" }),
    ).rejects.toThrow(/no model name/);
    await expect(
      runWorkload({
        endpoint: "http://127.0.0.1:1",
        workload: workload({ concurrency: 0 }),
        roundSeed: "01",
        prompts: shortPrompts,
      }),
    ).rejects.toThrow(/concurrency must be at least 1/);
    await expect(
      runWorkload({ endpoint: "http://127.0.0.1:1", workload: workload(), roundSeed: "zz" }),
    ).rejects.toThrow(/not hex/);
    expect(chatUrl("http://h:8000").href).toBe("http://h:8000/v1/chat/completions");
    expect(chatUrl("http://h:8000/v1/").href).toBe("http://h:8000/v1/chat/completions");
    expect(chatUrl("http://h:8000/v1/chat/completions").href).toBe("http://h:8000/v1/chat/completions");
    expect(() => chatUrl("ftp://h")).toThrow(/must be http/);
  });
});

describe("runWorkload warm-up until stable", () => {
  const steady = { timing: exact(5, 2) };
  const run = async (over: WorkloadInit) =>
    runWorkload({
      endpoint: (await sim(steady)).url,
      workload: workload({ requests: 4, warmupRequests: 2, ...over }),
      roundSeed: "01",
      prompts: shortPrompts,
    });

  it("one batch when the workload asks for one (today's warm-up), never counted as stable", async () => {
    const r = await run({ warmupMaxBatches: 0 });
    expect(r.summary.warmupBatchS).toHaveLength(1);
    expect(r.summary.warmupStable).toBe(false);
    expect(r.summary.completed).toBe(4);
  });

  it("stops at the second batch when it agrees with the first", async () => {
    // A tolerance of 100%: any two batches that produced tokens agree.
    const r = await run({ warmupMaxBatches: 5, warmupTolerance: 1 });
    expect(r.summary.warmupBatchS).toHaveLength(2);
    expect(r.summary.warmupStable).toBe(true);
  });

  it("runs to its last batch when batches never agree, and the timed requests are unchanged", async () => {
    // A tolerance of 0: two batches' throughputs are never exactly equal.
    const r = await run({ warmupMaxBatches: 4, warmupTolerance: 0 });
    expect(r.summary.warmupBatchS).toHaveLength(4);
    expect(r.summary.warmupStable).toBe(false);
    expect(r.summary.completed).toBe(4);
    expect(r.requests).toHaveLength(4);
  });
});
