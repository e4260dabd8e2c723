import { CacheonError } from "../shared/errors/cacheon-error.ts";
import { applyQwenChatTemplate } from "../shared/tokenizer/qwen-chat-template.ts";
import { parseMessages } from "./chat-template.ts";
import type { SamplingParams } from "./generation.ts";
import { encode, isTokenId } from "./tokenizer.ts";

/** Longest context the served model takes (Qwen2.5-72B-Instruct's max_position_embeddings). */
export const maxModelLen = 32768;
/** Most alternatives per token vLLM returns. */
export const maxLogprobs = 20;
/** Temperature when the request sets none (Qwen2.5-Instruct's generation_config). */
export const defaultTemperature = 0.7;

/** A validated `/v1/chat/completions` or `/v1/completions` request. */
export interface GenerateRequest {
  kind: "chat" | "completion";
  /** Prompt token ids (the chat template applied for chat). */
  promptIds: number[];
  stream: boolean;
  /** `stream_options.include_usage`: a final chunk with `usage`. */
  includeUsage: boolean;
  params: SamplingParams;
  /** Chat: `logprobs: true`. Completions: `logprobs` is a number (0 included). */
  logprobs: boolean;
  /** Completions: return the prompt before the completion (with its logprobs when asked). */
  echo: boolean;
  /** vLLM's `prompt_logprobs`: per prompt token, its logprob and this many alternatives. */
  promptLogprobs: number | undefined;
  /** vLLM's `return_tokens_as_token_ids`: logprob tokens read `token_id:<id>`. */
  tokensAsIds: boolean;
}

type Body = Record<string, unknown>;

/** Throws unless the body is a JSON object. */
export function asBody(raw: unknown): Body {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new CacheonError("invalid-argument", "the request body must be a JSON object");
  }
  return raw as Body;
}

/** Throws "not-found" unless `model` is absent or the served name. */
export function checkModel(body: Body, served: string): void {
  const model = body.model;
  if (model === undefined || model === null) return;
  if (typeof model !== "string") throw new CacheonError("invalid-argument", "model: must be a string");
  if (model !== served) {
    throw new CacheonError(
      "not-found",
      `The model \`${model}\` does not exist. This server serves \`${served}\`.`,
    );
  }
}

/** Token ids of a chat request's prompt (template applied) or a completion's prompt. */
export function promptIdsOf(body: Body, kind: "chat" | "completion"): number[] {
  if (kind === "chat") return encode(applyQwenChatTemplate(parseMessages(body.messages)));
  let prompt = body.prompt;
  if (
    Array.isArray(prompt) &&
    prompt.length === 1 &&
    (typeof prompt[0] === "string" || Array.isArray(prompt[0]))
  ) {
    prompt = prompt[0];
  }
  if (typeof prompt === "string") {
    if (prompt === "") throw new CacheonError("invalid-argument", "prompt: must not be empty");
    return encode(prompt);
  }
  if (Array.isArray(prompt)) {
    if (prompt.length === 0) throw new CacheonError("invalid-argument", "prompt: must not be empty");
    const bad = prompt.findIndex((id) => !isTokenId(id));
    if (bad >= 0) {
      const first = prompt[bad];
      if (Array.isArray(first) || typeof first === "string") {
        throw new CacheonError(
          "invalid-argument",
          "prompt: batched prompts are not supported; send one prompt per request",
        );
      }
      throw new CacheonError(
        "invalid-argument",
        `prompt[${bad}]: ${JSON.stringify(first)} is not a token id of this model (integers 0..${maxModelLen})`,
      );
    }
    return prompt as number[];
  }
  throw new CacheonError("invalid-argument", "prompt: must be a string or a list of token ids");
}

/** Validates a generation request; throws CacheonError("invalid-argument") naming the bad field. */
export function parseGenerateRequest(body: Body, kind: "chat" | "completion"): GenerateRequest {
  const promptIds = promptIdsOf(body, kind);
  const stream = optBool(body, "stream") ?? false;
  const streamOptions = body.stream_options;
  let includeUsage = false;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!stream)
      throw new CacheonError("invalid-argument", "stream_options: only allowed when stream is true");
    if (typeof streamOptions !== "object" || Array.isArray(streamOptions)) {
      throw new CacheonError(
        "invalid-argument",
        "stream_options: must be an object such as {include_usage: true}",
      );
    }
    includeUsage = optBool(streamOptions as Body, "include_usage", "stream_options.") ?? false;
  }
  const n = optInt(body, "n", 1);
  if (n !== undefined && n !== 1) throw new CacheonError("invalid-argument", "n: only 1 is supported");

  const room = maxModelLen - promptIds.length;
  if (room <= 0) {
    throw new CacheonError(
      "invalid-argument",
      `This model's maximum context length is ${maxModelLen} tokens. However, your prompt has ${promptIds.length} tokens; shorten it.`,
    );
  }
  const asked =
    optInt(body, "max_completion_tokens", kind === "chat" ? 1 : 0) ??
    optInt(body, "max_tokens", kind === "chat" ? 1 : 0);
  if (asked !== undefined && asked > room) {
    throw new CacheonError(
      "invalid-argument",
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptIds.length + asked} tokens (${promptIds.length} in the prompt, ${asked} for the completion). Reduce the prompt or max_tokens.`,
    );
  }
  const maxTokens = asked ?? (kind === "completion" ? Math.min(16, room) : room);
  const temperature = optNumber(body, "temperature", 0, 2) ?? defaultTemperature;
  const seed = optInt(body, "seed", -(2 ** 63), 2 ** 64);
  const stop = parseStop(body.stop);
  const ignoreEos = optBool(body, "ignore_eos") ?? false;
  const minTokens = optInt(body, "min_tokens", 0) ?? 0;
  if (minTokens > maxTokens) {
    throw new CacheonError(
      "invalid-argument",
      `min_tokens: ${minTokens} is more than max_tokens ${maxTokens}`,
    );
  }
  let logprobs: boolean;
  let topLogprobs: number;
  if (kind === "chat") {
    logprobs = optBool(body, "logprobs") ?? false;
    topLogprobs = optInt(body, "top_logprobs", 0, maxLogprobs) ?? 0;
    if (topLogprobs > 0 && !logprobs) {
      throw new CacheonError(
        "invalid-argument",
        "top_logprobs: set logprobs to true when asking for top_logprobs",
      );
    }
  } else {
    const lp = optInt(body, "logprobs", 0, maxLogprobs);
    logprobs = lp !== undefined;
    topLogprobs = lp ?? 0;
  }
  const echo = kind === "completion" ? (optBool(body, "echo") ?? false) : false;
  if (echo && stream) throw new CacheonError("invalid-argument", "echo: not supported together with stream");
  const promptLogprobs = optInt(body, "prompt_logprobs", 0, maxLogprobs);
  if (promptLogprobs !== undefined && stream) {
    throw new CacheonError("invalid-argument", "prompt_logprobs: not supported together with stream");
  }
  return {
    kind,
    promptIds,
    stream,
    includeUsage,
    params: {
      maxTokens,
      temperature,
      seed: seed === undefined ? undefined : Number(BigInt.asUintN(32, BigInt(seed))),
      stop,
      ignoreEos,
      minTokens,
      topLogprobs: Math.max(topLogprobs, 0),
    },
    logprobs,
    echo,
    promptLogprobs,
    tokensAsIds: optBool(body, "return_tokens_as_token_ids") ?? false,
  };
}

function parseStop(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  const list = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string" && s !== "")) {
    throw new CacheonError("invalid-argument", "stop: must be a non-empty string or a list of them");
  }
  return list as string[];
}

/** An optional boolean field. */
export function optBool(body: Body, name: string, prefix = ""): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean")
    throw new CacheonError(
      "invalid-argument",
      `${prefix}${name}: must be true or false, got ${JSON.stringify(v)}`,
    );
  return v;
}

/** An optional integer field within bounds. */
export function optInt(
  body: Body,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new CacheonError("invalid-argument", `${name}: must be an integer, got ${JSON.stringify(v)}`);
  }
  if (v < min || v > max)
    throw new CacheonError("invalid-argument", `${name}: ${v} is outside ${min}..${max}`);
  return v;
}

function optNumber(body: Body, name: string, min: number, max: number): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new CacheonError("invalid-argument", `${name}: must be a number, got ${JSON.stringify(v)}`);
  }
  if (v < min || v > max)
    throw new CacheonError("invalid-argument", `${name}: ${v} is outside ${min}..${max}`);
  return v;
}
