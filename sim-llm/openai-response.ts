import type { GeneratedToken, TokenAlternative } from "./generation.ts";
import { tokenBytes, tokenText } from "./tokenizer.ts";

/** How a token is named in logprobs: its text, or `token_id:<id>` with `return_tokens_as_token_ids`. */
export function tokenName(id: number, asIds: boolean): string {
  return asIds ? `token_id:${id}` : tokenText(id);
}

/** One `logprobs.content` entry of the chat API. */
export function chatLogprobEntry(token: GeneratedToken, asIds: boolean): Record<string, unknown> {
  return {
    token: tokenName(token.id, asIds),
    logprob: token.logprob,
    bytes: tokenBytes(token.id),
    top_logprobs: token.top.map((alt: TokenAlternative) => ({
      token: tokenName(alt.id, asIds),
      logprob: alt.logprob,
      bytes: tokenBytes(alt.id),
    })),
  };
}

/** The legacy completions `logprobs` object for a run of tokens. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/** Appends tokens to a completions `logprobs` object; `offset` is the text offset of the first. */
export function appendCompletionLogprobs(
  into: CompletionLogprobs,
  entries: Array<{ id: number; logprob: number | null; top: TokenAlternative[] | null }>,
  offset: number,
  asIds: boolean,
): number {
  let at = offset;
  for (const e of entries) {
    into.tokens.push(tokenName(e.id, asIds));
    into.token_logprobs.push(e.logprob);
    into.top_logprobs.push(
      e.top === null ? null : Object.fromEntries(e.top.map((a) => [tokenName(a.id, asIds), a.logprob])),
    );
    into.text_offset.push(at);
    at += tokenText(e.id).length;
  }
  return at;
}

/** An empty completions `logprobs` object. */
export function emptyCompletionLogprobs(): CompletionLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

/** An OpenAI-style `usage` object. */
export function usageObject(prompt: number, completion: number): Record<string, number> {
  return { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion };
}

/** One server-sent event line. */
export function sseData(value: unknown): string {
  return `data: ${typeof value === "string" ? value : JSON.stringify(value)}\n\n`;
}

/** The OpenAI error body for a status and message. */
export function errorBody(
  status: number,
  message: string,
  param: string | null = null,
): Record<string, unknown> {
  const type =
    status === 400
      ? "BadRequestError"
      : status === 404
        ? "NotFoundError"
        : status === 405
          ? "MethodNotAllowedError"
          : status === 413
            ? "RequestTooLargeError"
            : status === 503
              ? "ServiceUnavailableError"
              : "InternalServerError";
  return { error: { message, type, param, code: status }, object: "error", message, type, code: status };
}
