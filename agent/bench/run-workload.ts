import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import type { GeneratedOutput, PromptKind } from "../../shared/correctness/generated-output.ts";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { ArmSummary, RequestMetrics } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import { RequestMetricsSchema } from "../../shared/gen/cacheon/v1/metrics_pb.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { type Logger, silentLogger } from "../../shared/log/logger.ts";
import { chatRequestBody } from "../workload/chat-request.ts";
import { loadWorkloadPrompts } from "../workload/load-workload-prompts.ts";
import type { Prompt } from "../workload/prompt.ts";
import { poissonArrivals } from "../workload/select-prompts.ts";
import { scheduleFromPool, type TimedSchedule } from "../workload/timed-schedule.ts";
import { type ClientLoad, startClientLoad } from "./client-load.ts";
import { DeferralPool } from "./stream-capture.ts";
import {
  type CapturedResponse,
  captureChatStream,
  createBenchAgent,
  type StreamedResponse,
} from "./stream-chat-completion.ts";
import { type FindingLimits, summariseArm } from "./summarise-arm.ts";
import { isWarm, warmUpBatch, warmUpRule } from "./warm-up.ts";

/** Options of {@link runWorkload}. */
export interface RunWorkloadOptions {
  /** Base URL of the server (e.g. http://127.0.0.1:8000) or the full chat-completions URL. */
  endpoint: string;
  /** Model name sent; overrides workload.model. @default workload.model */
  model?: string;
  /** What to send: counts, limits, arrivals, repetitions, timeouts. */
  workload: WorkloadSpec;
  /** Round seed, hex; fixes prompt choice, order and arrival times. */
  roundSeed: string;
  /**
   * What to send: warm-up and per-repetition prompts with their kinds (a job's generated prompts,
   * see scheduleFromJob). When absent, a pool schedule from `prompts` or workload.promptSource.
   */
  schedule?: TimedSchedule;
  /** Prompt pool for a pool schedule; when absent it is loaded from workload.promptSource. */
  prompts?: readonly Prompt[];
  /** Arm id written into every RequestMetrics. @default "" */
  armId?: string;
  /** Aborts the run: in-flight requests are cancelled and runWorkload rejects with "cancelled". */
  signal?: AbortSignal;
  /** Called with each timed request's metrics as it finishes. */
  onRequest?(metrics: RequestMetrics): void;
  /** Called as requests finish (warm-up included) with done and total counts. */
  onProgress?(done: number, total: number): void;
  /** Logger. @default silentLogger */
  logger?: Logger;
  /** Largest SSE event accepted, bytes. @default 1 MiB */
  maxEventBytes?: number;
  /** How a usage disagreement is recorded (see StreamRecorderOptions). @default "fail" */
  usageMismatch?: "fail" | "flag";
  /** Ask for token ids in logprobs (return_tokens_as_token_ids). @default true */
  tokenIds?: boolean;
  /** Keep per-request outputs (tokens, logprobs, text) for correctness. @default true */
  keepOutputs?: boolean;
  /** Limits of the findings in the summary (the client-bound finding's). */
  findingLimits?: FindingLimits;
  /**
   * Body bytes the run may hold unparsed until each repetition's timed window closes; past it,
   * streams parse as their bytes arrive. 0 parses everything as it arrives. @default 256 MiB
   */
  maxUnparsedBytes?: number;
}

/** Timing of one timed request on the run's clock, for plots. */
export interface RequestTimeline {
  repetition: number;
  requestIndex: number;
  /** Milliseconds from the start of the timed workload (first repetition's first send). */
  sentMs: number;
  /** Same clock: first and last content chunk, and the end of the stream; NaN when absent. */
  firstContentMs: number;
  lastContentMs: number;
  endMs: number;
  outputTokens: number;
  ok: boolean;
}

/** Everything one arm's workload produced. */
export interface WorkloadRun {
  /** Metrics of every timed request, by repetition then request index. */
  requests: RequestMetrics[];
  /** Outputs of every timed request (empty when keepOutputs is false), same order. */
  outputs: GeneratedOutput[];
  /** The arm's summary. */
  summary: ArmSummary;
  /** Every distinct timed prompt (of all repetitions), with its kind; look them up by id. */
  prompts: Prompt[];
  /** Per-request times on one clock, for the report. */
  timeline: RequestTimeline[];
  /** performance.now() of the first timed send: the timeline's zero. */
  originMs: number;
  /** The measuring client's own load in each repetition's timed window (also in the summary). */
  clientLoad: ClientLoad[];
}

/**
 * Runs a workload against one OpenAI-compatible server and measures it: warm-up (excluded; batches
 * until two in a row agree in output tokens per second when the workload asks, see
 * WorkloadSpec.warmup_max_batches), then
 * the timed repetitions of its schedule (a job's fresh prompts per repetition with probes and
 * canaries among them, or a pool's same prompts each time), closed loop or Poisson arrivals. Every
 * request body has the same shape whatever the prompt's kind, which is never sent. The very
 * requests that are timed are the ones whose outputs are kept for correctness, so a server cannot
 * tell a checked request from a timed one. Inside a repetition's timed window the client only
 * reads and timestamps (streams are parsed when it closes), and it measures its own CPU use and
 * event-loop lag there: an arm it could not keep up with is flagged "client-bound". Never throws
 * for a misbehaving server (each request records its failure); throws CacheonError for bad
 * options and "cancelled" when aborted.
 */
export async function runWorkload(options: RunWorkloadOptions): Promise<WorkloadRun> {
  const { workload } = options;
  const logger = options.logger ?? silentLogger;
  const url = chatUrl(options.endpoint);
  const model = options.model ?? workload.model;
  if (!model)
    throw new CacheonError("invalid-argument", "no model name: set workload.model or options.model");
  if (workload.maxTokens < 1)
    throw new CacheonError("invalid-argument", "workload.maxTokens must be at least 1");
  const arrival = workload.arrival?.process ?? { case: "closedLoop", value: { concurrency: 1 } };
  if (arrival.case === "closedLoop" && arrival.value.concurrency < 1) {
    throw new CacheonError("invalid-argument", "closed-loop concurrency must be at least 1");
  }
  const selected =
    options.schedule ??
    scheduleFromPool({
      pool: options.prompts ?? loadWorkloadPrompts(workload),
      requests: workload.requests,
      // Fresh prompts for each warm-up batch the workload may send (warm-up until stable).
      warmup: workload.warmupRequests * Math.max(1, workload.warmupMaxBatches),
      repetitions: workload.repetitions,
      roundSeed: options.roundSeed,
    });
  const repetitions = selected.repetitions.length;
  const longest = Math.max(...selected.repetitions.map((r) => r.length));
  const arrivals =
    arrival.case === "poisson"
      ? poissonArrivals(longest, arrival.value.ratePerS, options.roundSeed)
      : undefined;
  const concurrency =
    arrival.case === "closedLoop"
      ? arrival.value.concurrency
      : arrival.case === "poisson" && arrival.value.maxConcurrency > 0
        ? arrival.value.maxConcurrency
        : Number.POSITIVE_INFINITY;

  const agent = createBenchAgent(url);
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const bodies = new Map<string, Buffer>();
  const bodyOf = (prompt: Prompt) => {
    let body = bodies.get(prompt.id);
    if (!body) {
      const json = chatRequestBody(prompt, { model, workload, tokenIds: options.tokenIds });
      body = Buffer.from(JSON.stringify(json));
      bodies.set(prompt.id, body);
    }
    return body;
  };
  // A batch is the workload's warm-up requests (all the warm-up prompts when it names none).
  const rule = warmUpRule({
    ...workload,
    warmupRequests:
      workload.warmupRequests > 0
        ? Math.min(workload.warmupRequests, selected.warmup.length)
        : selected.warmup.length,
  });
  // Progress counts the first warm-up batch; later ones are not known in advance.
  const total = rule.size + selected.repetitions.reduce((n, r) => n + r.length, 0);
  let done = 0;
  const maxUnparsed = options.maxUnparsedBytes ?? 256 * 1024 * 1024;
  const pool = new DeferralPool(maxUnparsed);
  const send = (prompt: Prompt) =>
    captureChatStream({
      url,
      body: bodyOf(prompt),
      agent,
      recorder: { maxTokens: workload.maxTokens, usageMismatch: options.usageMismatch },
      requestTimeoutMs: workload.requestTimeoutMs,
      stallTimeoutMs: workload.stallTimeoutMs,
      maxEventBytes: options.maxEventBytes,
      signal: controller.signal,
      pool,
      ...(maxUnparsed <= 0 ? { deferBytes: 0 } : {}),
    });

  const requests: RequestMetrics[] = [];
  const outputs: GeneratedOutput[] = [];
  const timeline: RequestTimeline[] = [];
  const itl: number[] = [];
  const repetitionWallS: number[] = [];
  const warmupBatchS: number[] = [];
  const throughputs: number[] = [];
  let warmupStable = false;
  const clientLoad: ClientLoad[] = [];
  let usageMismatches = 0;
  let origin = Number.NaN;
  try {
    // Warm-up: batches of the warm-up requests until two in a row agree (or the rule's last batch).
    for (let b = 0; b < rule.maxBatches && selected.warmup.length > 0; b++) {
      const batch = warmUpBatch(selected.warmup, rule.size, b);
      logger.info("warm-up", { batch: b, requests: batch.length });
      let tokens = 0;
      const started = performance.now();
      await schedule(batch.length, Math.min(concurrency, 64), undefined, async (i) => {
        const r = (await send(batch[i] as Prompt)).record();
        if (r.failure) logger.warn("warm-up request failed", { failure: r.failure, detail: r.failureDetail });
        else tokens += r.outputTokens;
        if (b === 0) options.onProgress?.(++done, total);
      });
      throwIfAborted(options.signal);
      const wallS = (performance.now() - started) / 1000;
      warmupBatchS.push(wallS);
      throughputs.push(wallS > 0 ? tokens / wallS : 0);
      if (isWarm(throughputs, rule.tolerance)) {
        warmupStable = true;
        break;
      }
    }
    for (let rep = 0; rep < repetitions; rep++) {
      const timed = selected.repetitions[rep] as Prompt[];
      let firstSent = Number.POSITIVE_INFINITY;
      let lastEnd = 0;
      const repRequests: RequestMetrics[] = new Array(timed.length);
      const repOutputs: GeneratedOutput[] = new Array(timed.length);
      // In completion order: what the window captured, parsed once it has closed.
      const finished: { i: number; scheduledAt: number; captured: CapturedResponse }[] = [];
      const load = startClientLoad();
      await schedule(timed.length, concurrency, arrivals, async (i, scheduledAt) => {
        finished.push({ i, scheduledAt, captured: await send(timed[i] as Prompt) });
        options.onProgress?.(++done, total);
      });
      const windowLoad = load.stop();
      throwIfAborted(options.signal);
      const parseCpu = process.threadCpuUsage();
      for (const { i, scheduledAt, captured } of finished) {
        const prompt = timed[i] as Prompt;
        const r = captured.record();
        if (Number.isNaN(origin)) origin = r.sentAt;
        firstSent = Math.min(firstSent, r.sentAt);
        lastEnd = Math.max(lastEnd, r.endedAt);
        const metrics = toMetrics(r, {
          armId: options.armId ?? "",
          repetition: rep,
          requestIndex: i,
          promptId: prompt.id,
          kind: prompt.kind ?? "scored",
          scheduledAt,
        });
        if (r.usageMismatch && !r.failure) usageMismatches += 1;
        if (metrics.ok) for (const gap of r.itlMs) itl.push(gap);
        repRequests[i] = metrics;
        if (options.keepOutputs ?? true) {
          repOutputs[i] = {
            repetition: rep,
            requestIndex: i,
            promptId: prompt.id,
            kind: prompt.kind ?? "scored",
            ok: metrics.ok,
            text: r.text,
            tokens: r.tokens,
            finishReason: r.finishReason,
            tokenTimesMs: r.tokenAt.map((at) => at - r.sentAt),
            usageCompletionTokens: r.usageCompletionTokens,
            textChars: r.textChars,
            failure: r.failure,
            failureDetail: r.failureDetail,
          };
        }
        timeline.push({
          repetition: rep,
          requestIndex: i,
          sentMs: r.sentAt - origin,
          firstContentMs: r.firstContentAt - origin,
          lastContentMs: r.lastContentAt - origin,
          endMs: r.endedAt - origin,
          outputTokens: r.outputTokens,
          ok: metrics.ok,
        });
        options.onRequest?.(metrics);
      }
      const parsed = process.threadCpuUsage(parseCpu);
      clientLoad.push({ ...windowLoad, parseCpuS: (parsed.user + parsed.system) / 1e6 });
      const wall = Number.isFinite(firstSent) ? (lastEnd - firstSent) / 1000 : 0;
      repetitionWallS.push(wall);
      logger.info("repetition finished", { repetition: rep, wall_s: wall });
      requests.push(...repRequests);
      if (options.keepOutputs ?? true) outputs.push(...repOutputs);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    agent.destroy();
  }
  timeline.sort((a, b) => a.sentMs - b.sentMs);
  const summary = summariseArm({
    armId: options.armId ?? "",
    requests,
    repetitionWallS,
    itlMs: itl,
    usageMismatches,
    limits: options.findingLimits,
    clientLoad,
  });
  summary.warmupBatchS = warmupBatchS;
  summary.warmupStable = warmupStable;
  const distinct = new Map(selected.repetitions.flat().map((p) => [p.id, p]));
  return {
    requests,
    outputs,
    summary,
    prompts: [...distinct.values()],
    timeline,
    originMs: origin,
    clientLoad,
  };
}

/** The chat-completions URL of an endpoint given as a base URL or as the full URL. */
export function chatUrl(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new CacheonError(
      "invalid-argument",
      `endpoint "${endpoint}" is not a URL: give e.g. http://127.0.0.1:8000`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CacheonError("invalid-argument", `endpoint "${endpoint}" must be http:// or https://`);
  }
  if (!url.pathname.endsWith("/chat/completions")) {
    url.pathname = `${url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/chat/completions`;
  }
  return url;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CacheonError("cancelled", "the workload was cancelled");
}

/**
 * Runs `count` tasks with at most `limit` in flight. Without arrivals it is a closed loop: a
 * task is scheduled the moment a slot frees. With arrivals (ms offsets) each task is scheduled
 * at its offset and waits for a slot if all are busy; the wait is the client's queueing time.
 */
async function schedule(
  count: number,
  limit: number,
  arrivals: readonly number[] | undefined,
  task: (index: number, scheduledAt: number) => Promise<void>,
): Promise<void> {
  const start = performance.now();
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (inFlight < limit) {
      inFlight += 1;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight -= 1;
  };
  const runs: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    if (arrivals) {
      const at = start + (arrivals[i] as number);
      const delay = at - performance.now();
      if (delay > 1) await new Promise((resolve) => setTimeout(resolve, delay));
      const scheduledAt = at;
      runs.push(
        (async () => {
          await acquire();
          try {
            await task(i, scheduledAt);
          } finally {
            release();
          }
        })(),
      );
    } else {
      await acquire();
      const scheduledAt = performance.now();
      runs.push(
        (async () => {
          try {
            await task(i, scheduledAt);
          } finally {
            release();
          }
        })(),
      );
    }
  }
  await Promise.all(runs);
}

interface RequestContext {
  armId: string;
  repetition: number;
  requestIndex: number;
  promptId: string;
  kind: PromptKind;
  scheduledAt: number;
}

/** One streamed response as the contract's RequestMetrics. */
export function toMetrics(r: StreamedResponse, c: RequestContext): RequestMetrics {
  const ttft = Number.isNaN(r.firstContentAt) ? 0 : r.firstContentAt - r.sentAt;
  const e2e = Number.isNaN(r.lastContentAt) ? 0 : r.lastContentAt - r.sentAt;
  return create(RequestMetricsSchema, {
    armId: c.armId,
    repetition: c.repetition,
    requestIndex: c.requestIndex,
    promptId: c.promptId,
    promptKind: c.kind,
    ok: r.failure === "",
    failure: r.failure,
    failureDetail: r.failureDetail,
    queuedMs: Math.max(0, r.sentAt - c.scheduledAt),
    ttftMs: ttft,
    e2eMs: e2e,
    outputTokens: r.outputTokens,
    tokenCountSource: r.tokenCountSource,
    usageCompletionTokens: r.usageCompletionTokens,
    usagePromptTokens: r.usagePromptTokens,
    contentChunks: r.contentChunks,
    tpotMs: r.outputTokens > 1 ? (e2e - ttft) / (r.outputTokens - 1) : 0,
    maxItlMs: r.itlMs.length > 0 ? Math.max(...r.itlMs) : 0,
    finishReason: r.finishReason,
    sentAtUnixMs: BigInt(r.sentAtUnixMs),
  });
}
