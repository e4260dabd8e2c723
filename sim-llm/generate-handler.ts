import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type GeneratedToken, Generation, type GenerationQuirks } from "./generation.ts";
import type { GenerateRequest } from "./openai-request.ts";
import {
  appendCompletionLogprobs,
  chatLogprobEntry,
  emptyCompletionLogprobs,
  sseData,
  usageObject,
} from "./openai-response.ts";
import { createSink, type ResponseSink } from "./response-sink.ts";
import type { ServingEngine } from "./serving-engine.ts";
import {
  benchmarkPromptTokens,
  earlyStopAt,
  falseUsage,
  hangAfterTokens,
  hugeChunkBytes,
  inflationOvershoot,
  type SimLlmMode,
  truncateAt,
} from "./sim-llm-mode.ts";
import { logprobOf, rankOf, type SimModel } from "./sim-model.ts";
import {
  guessesCanary,
  honestAnswer,
  type JunkToken,
  junkTokens,
  nearTieIndex,
  tableCovers,
} from "./subtle-cheats.ts";
import { decode } from "./tokenizer.ts";

/** What a generation request needs from the server. */
export interface GenerateContext {
  modelName: string;
  mode: SimLlmMode;
  model: SimModel;
  wrongModel: SimModel;
  engine: ServingEngine;
  /** The engine `benchmark-detect` uses for benchmark prompts. */
  fastEngine: ServingEngine;
  /** `response-cache`: full response bodies by request. */
  cache: Map<string, { contentType: string; body: string }>;
  /** The engine `partial-replay` serves repeated requests on. */
  replayEngine: ServingEngine;
  /** `partial-replay`: requests seen. */
  replays: Set<string>;
  /** Timers of dripping responses, cleared on close. */
  timers: Set<NodeJS.Timeout>;
  /** Pause between bytes of `slow-drip`, in ms. */
  dripMs: number;
}

/**
 * Runs one chat or completion request through the engine and writes the response (streamed or
 * whole), applying the server's misbehaviour.
 */
export function runGenerate(
  ctx: GenerateContext,
  request: GenerateRequest,
  cacheKey: string,
  res: ServerResponse,
): void {
  const { mode } = ctx;
  const contentType = request.stream ? "text/event-stream" : "application/json";
  if (mode === "response-cache") {
    const hit = ctx.cache.get(cacheKey);
    if (hit) {
      res.writeHead(200, { "content-type": hit.contentType });
      res.end(hit.body);
      return;
    }
  }
  // The subtle cheats act on streamed chat, the only requests a validator times.
  const subtle = request.stream && request.kind === "chat";
  const benchmark =
    (mode === "benchmark-detect" && request.promptIds.length >= benchmarkPromptTokens) ||
    (mode === "canary-honest" && subtle && !guessesCanary(request.promptIds));
  const model = mode === "wrong-model" || benchmark ? ctx.wrongModel : ctx.model;
  const replayed = mode === "partial-replay" && ctx.replays.has(cacheKey);
  if (mode === "partial-replay") ctx.replays.add(cacheKey);
  const engine = benchmark ? ctx.fastEngine : replayed ? ctx.replayEngine : ctx.engine;
  const maxTokens = request.params.maxTokens;
  const quirks: GenerationQuirks = {};
  if (mode === "early-stop") quirks.stopAfter = earlyStopAt(maxTokens);
  if (mode === "token-inflation") quirks.overshoot = inflationOvershoot(maxTokens);
  if (mode === "perturbed-logprobs") quirks.perturbLogprobs = true;

  const promptState = model.run(request.promptIds);
  const planned =
    subtle && (mode === "truncate" || mode.startsWith("near-tie") || mode === "precomputed-table")
      ? honestAnswer(model, promptState, request.params)
      : undefined;
  if (mode === "truncate" && planned) {
    const at = truncateAt(planned.length);
    if (at < planned.length) quirks.stopAfter = at;
  }
  let junkAfter = -1;
  if (mode.startsWith("near-tie") && planned) {
    const at = nearTieIndex(planned);
    if (at >= 0) {
      quirks.runnerUpAt = at;
      junkAfter = at + 1;
    }
  }
  const generation = new Generation(model, promptState, request.params, quirks);
  const recorded: string[] = [];
  const sink: ResponseSink = createSink(res, {
    buffer: mode === "stream-buffering" && request.stream,
    ...(mode === "slow-drip" ? { dripMs: ctx.dripMs } : {}),
    ...(mode === "response-cache" ? { record: (d: string) => recorded.push(d) } : {}),
    timers: ctx.timers,
  });
  const id = `${request.kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const promptTokens = request.promptIds.length;
  const tokens: GeneratedToken[] = [];
  let headerSent = false;
  const sendHeader = () => {
    if (headerSent || res.destroyed) return;
    headerSent = true;
    res.writeHead(200, { "content-type": contentType, "cache-control": "no-cache" });
    if (request.stream) res.flushHeaders();
  };

  const usage = (completion: number) => {
    const counts =
      mode === "false-usage" ? falseUsage(promptTokens, completion) : { prompt: promptTokens, completion };
    return usageObject(counts.prompt, counts.completion);
  };
  const chatChunk = (choice: Record<string, unknown>) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model: ctx.modelName,
    choices: [choice],
    ...(request.includeUsage ? { usage: null } : {}),
  });
  const completionChunk = (choice: Record<string, unknown>) => ({
    id,
    object: "text_completion",
    created,
    model: ctx.modelName,
    choices: [choice],
    ...(request.includeUsage ? { usage: null } : {}),
  });
  const roleChunk = () =>
    sseData(
      chatChunk({ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }),
    );

  /** One streamed token (or the end when `token` is undefined) as SSE text. */
  const streamFrame = (token: GeneratedToken | undefined, text: string, finish: string | null): string => {
    if (request.kind === "chat") {
      const delta = token === undefined && text === "" ? {} : { content: text };
      const logprobs =
        request.logprobs && token ? { content: [chatLogprobEntry(token, request.tokensAsIds)] } : null;
      return sseData(chatChunk({ index: 0, delta, logprobs, finish_reason: finish }));
    }
    let logprobs = null;
    if (request.logprobs && token) {
      logprobs = emptyCompletionLogprobs();
      appendCompletionLogprobs(logprobs, [token], completionOffset, request.tokensAsIds);
    }
    completionOffset += text.length;
    return sseData(completionChunk({ index: 0, text, logprobs, finish_reason: finish, stop_reason: null }));
  };
  let completionOffset = 0;

  const finishStream = (finishReason?: string, completionTokens?: number) => {
    const finish = finishReason ?? generation.finishReason ?? "stop";
    if (request.includeUsage) {
      const chunk = request.kind === "chat" ? chatChunk({}) : completionChunk({});
      sink.write(sseData({ ...chunk, choices: [], usage: usage(completionTokens ?? tokens.length) }));
    }
    sink.write(sseData("[DONE]"));
    sink.end();
    if (mode === "response-cache") ctx.cache.set(cacheKey, { contentType, body: recorded.join("") });
    return finish;
  };

  const finishWhole = () => {
    const text = generation.text;
    const finish = generation.finishReason ?? "stop";
    let body: Record<string, unknown>;
    if (request.kind === "chat") {
      const content = mode === "huge-chunk" ? text + filler(hugeChunkBytes) : text;
      body = {
        id,
        object: "chat.completion",
        created,
        model: ctx.modelName,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content },
            logprobs: request.logprobs
              ? { content: tokens.map((t) => chatLogprobEntry(t, request.tokensAsIds)) }
              : null,
            finish_reason: finish,
            stop_reason: null,
          },
        ],
        usage: usage(tokens.length),
      };
    } else {
      body = completionBody(ctx, model, request, generation, tokens, id, created, usage(tokens.length));
    }
    let json = JSON.stringify(body);
    if (mode === "invalid-json") json = json.slice(0, Math.floor(json.length / 2));
    sendHeader();
    sink.write(json);
    sink.end();
    if (mode === "response-cache") ctx.cache.set(cacheKey, { contentType, body: recorded.join("") });
  };

  let sent = 0;
  let stopped = false;
  const sequence = {
    promptTokens,
    onToken: (): boolean => {
      if (stopped || res.destroyed) return true;
      const token = generation.next();
      if (token) tokens.push(token);
      const finished = generation.finishReason !== undefined;
      if (!request.stream) {
        if (mode === "hang-mid-stream" && tokens.length >= hangAfterTokens) return hang();
        if (finished) finishWhole();
        return finished;
      }
      sendHeader();
      let out = "";
      if (sent === 0 && request.kind === "chat" && mode !== "role-then-stall") out += roleChunk();
      if (token) {
        sent += 1;
        const text = token.text + (finished ? generation.tail() : "");
        out +=
          mode === "invalid-json" && sent === 2
            ? 'data: {"id":"broken","choices":[{"index":0,"delta":{"content":\n\n'
            : streamFrame(token, text, finished ? (generation.finishReason ?? null) : null);
        if (mode === "huge-chunk" && sent === 1) out += streamFrame(undefined, filler(hugeChunkBytes), null);
      } else {
        out += streamFrame(undefined, generation.tail(), generation.finishReason ?? "stop");
      }
      if (sent === junkAfter && !finished && sent < maxTokens) {
        // Past the near-tie: junk up to max_tokens, all at once.
        const kind = mode === "near-tie-junk-ids" ? "ids" : mode === "near-tie-junk-text" ? "text" : "valid";
        const junk = junkTokens(kind, maxTokens - sent);
        junk.forEach((j, i) => {
          out += junkFrame(j, i === junk.length - 1 ? "length" : null);
        });
        sink.write(out);
        finishStream("length", sent + junk.length);
        return true;
      }
      sink.write(out);
      if (mode === "hang-mid-stream" && sent >= hangAfterTokens && !finished) return hang();
      if (finished) finishStream();
      return finished;
    },
  };
  /** One junk token's chunk: the id it claims, the text it sends. */
  const junkFrame = (j: JunkToken, finish: string | null): string => {
    const entry = {
      token: request.tokensAsIds ? `token_id:${j.id}` : j.text,
      logprob: j.logprob,
      bytes: [...Buffer.from(j.text)],
      top_logprobs: [
        { token: request.tokensAsIds ? `token_id:${j.id}` : j.text, logprob: j.logprob, bytes: [] },
      ],
    };
    return sseData(
      chatChunk({
        index: 0,
        delta: { content: j.text },
        logprobs: request.logprobs ? { content: [entry] } : null,
        finish_reason: finish,
      }),
    );
  };
  /** Keeps the connection open and silent; the engine forgets the sequence. */
  const hang = (): boolean => {
    stopped = true;
    return true;
  };
  res.on("close", () => {
    if (!res.writableFinished) engine.cancel(sequence);
  });
  if (request.stream && request.kind === "chat" && mode === "role-then-stall") {
    sendHeader();
    sink.write(roleChunk());
  }
  if (mode === "precomputed-table" && planned && tableCovers(request.promptIds)) {
    // A precomputed answer: no prefill, no decoding, the whole stream at once.
    sendHeader();
    let out = roleChunk();
    planned.forEach((generated, i) => {
      const token = { ...generated, top: generated.top.slice(0, request.params.topLogprobs) };
      tokens.push(token);
      out += streamFrame(token, token.text, i === planned.length - 1 ? finishOf(planned, maxTokens) : null);
    });
    if (planned.length === 0) out += streamFrame(undefined, "", "stop");
    sink.write(out);
    finishStream(finishOf(planned, maxTokens));
    return;
  }
  engine.submit(sequence);
}

/** The non-streamed `/v1/completions` body, with echo and prompt logprobs when asked. */
function completionBody(
  ctx: GenerateContext,
  model: SimModel,
  request: GenerateRequest,
  generation: Generation,
  tokens: GeneratedToken[],
  id: string,
  created: number,
  usage: Record<string, number>,
): Record<string, unknown> {
  const scored =
    request.echo || request.promptLogprobs !== undefined
      ? scorePrompt(
          model,
          request.promptIds,
          Math.max(request.params.topLogprobs, request.promptLogprobs ?? 0),
        )
      : [];
  let text = generation.text;
  let logprobs = null;
  if (request.logprobs) {
    logprobs = emptyCompletionLogprobs();
    let offset = 0;
    if (request.echo) {
      offset = appendCompletionLogprobs(
        logprobs,
        scored.map((s) => ({
          id: s.id,
          logprob: s.logprob,
          top: s.logprob === null ? null : s.top.slice(0, request.params.topLogprobs),
        })),
        0,
        request.tokensAsIds,
      );
    }
    appendCompletionLogprobs(logprobs, tokens, offset, request.tokensAsIds);
  }
  if (request.echo) text = decode(request.promptIds) + text;
  if (ctx.mode === "huge-chunk") text += filler(hugeChunkBytes);
  const promptLogprobs =
    request.promptLogprobs === undefined
      ? undefined
      : scored.map((s) =>
          s.logprob === null
            ? null
            : Object.fromEntries([
                [String(s.id), { logprob: s.logprob, rank: s.rank, decoded_token: decode([s.id]) }],
                ...s.top
                  .slice(0, request.promptLogprobs)
                  .filter((a) => a.id !== s.id)
                  .map((a, i) => [
                    String(a.id),
                    {
                      logprob: a.logprob,
                      rank: s.top.indexOf(a) + 1 || i + 1,
                      decoded_token: decode([a.id]),
                    },
                  ]),
              ]),
        );
  return {
    id,
    object: "text_completion",
    created,
    model: ctx.modelName,
    choices: [
      {
        index: 0,
        text,
        logprobs,
        finish_reason: generation.finishReason ?? "stop",
        stop_reason: null,
        ...(promptLogprobs ? { prompt_logprobs: promptLogprobs } : {}),
      },
    ],
    usage,
  };
}

/** Teacher forcing: each prompt token's logprob and rank given the tokens before it (null for the first). */
export function scorePrompt(
  model: SimModel,
  ids: readonly number[],
  top: number,
): Array<{ id: number; logprob: number | null; rank: number; top: Array<{ id: number; logprob: number }> }> {
  const out = [];
  let state = model.initial();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] ?? 0;
    if (i === 0) {
      out.push({ id, logprob: null, rank: 0, top: [] });
    } else {
      const dist = model.distribution(state);
      out.push({
        id,
        logprob: logprobOf(dist, id),
        rank: rankOf(dist, id),
        top: dist.ids.slice(0, top).map((c, j) => ({ id: c, logprob: dist.logprobs[j] ?? 0 })),
      });
    }
    state = model.advance(state, id);
  }
  return out;
}

/** The finish reason of an answer generated ahead: "length" when it filled max_tokens. */
function finishOf(answer: readonly GeneratedToken[], maxTokens: number): string {
  return answer.length >= maxTokens ? "length" : "stop";
}

/** Filler text of about `bytes` bytes. */
function filler(bytes: number): string {
  return " lorem".repeat(Math.ceil(bytes / 6)).slice(0, bytes);
}
