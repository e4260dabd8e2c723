import type { GeneratedToken } from "../../shared/correctness/generated-output.ts";
import { TokenCountSource } from "../../shared/gen/cacheon/v1/metrics_pb.ts";

/** Failure codes a stream can end with (RequestMetrics.failure). */
export type StreamFailure =
  | "http-status"
  | "timeout"
  | "stall"
  | "no-done"
  | "invalid-json"
  | "oversized-chunk"
  | "exceeds-max-tokens"
  | "connection"
  | "usage-mismatch"
  | "server-error"
  | "no-content"
  | "cancelled";

/** Limits of {@link StreamRecorder}. */
export interface StreamRecorderOptions {
  /** The request's max_tokens: a stream with more tokens fails with "exceeds-max-tokens". */
  maxTokens: number;
  /** Tokens (with their logprobs) kept for correctness. @default maxTokens + 16 */
  keepTokens?: number;
  /** Alternatives kept per position. @default 20 */
  keepTopK?: number;
  /** Characters of text kept. @default 65536 */
  keepTextChars?: number;
  /**
   * How a disagreement between `usage.completion_tokens` and the tokens counted from logprobs is
   * recorded: "fail" makes the request fail with "usage-mismatch"; "flag" keeps it ok and sets
   * `usageMismatch`. @default "fail"
   */
  usageMismatch?: "fail" | "flag";
}

/** Everything recorded about one stream once it ended. */
export interface RecordedStream {
  failure: StreamFailure | "";
  failureDetail: string;
  /** Arrival time of the first content chunk (performance.now() ms), NaN when none. */
  firstContentAt: number;
  /** Arrival time of the last content chunk, NaN when none. */
  lastContentAt: number;
  outputTokens: number;
  tokenCountSource: TokenCountSource;
  /** Tokens counted from logprobs.content entries; -1 when the server sent none. */
  logprobTokens: number;
  usageCompletionTokens: number;
  usagePromptTokens: number;
  contentChunks: number;
  /** Gaps between consecutive content chunks, ms (capped at keepTokens entries). */
  itlMs: number[];
  finishReason: string;
  sawDone: boolean;
  /** True when usage disagreed with the logprob count (in "flag" mode the request stays ok). */
  usageMismatch: boolean;
  text: string;
  /** Characters of content received, kept or not (text is capped at keepTextChars). */
  textChars: number;
  tokens: GeneratedToken[];
  /**
   * Arrival time (performance.now() ms) of each kept token: the time of the chunk whose
   * `logprobs.content` carried it, so tokens sent together in one chunk share one time. Same
   * length as `tokens`.
   */
  tokenAt: number[];
}

interface ChunkLogprob {
  token?: unknown;
  logprob?: unknown;
  top_logprobs?: unknown;
}

/**
 * Turns the events of one chat-completions stream into measurements and the output kept for
 * correctness. Pure and incremental: the I/O layer feeds it events stamped at byte arrival and
 * stops reading as soon as {@link StreamRecorder.failed} turns true, so a misbehaving server
 * costs bounded memory and time.
 */
export class StreamRecorder {
  readonly #maxTokens: number;
  readonly #keepTokens: number;
  readonly #keepTopK: number;
  readonly #keepTextChars: number;
  readonly #mismatchMode: "fail" | "flag";
  #failure: StreamFailure | "" = "";
  #detail = "";
  #first = Number.NaN;
  #last = Number.NaN;
  #logprobTokens = -1;
  #usageCompletion = -1;
  #usagePrompt = -1;
  #chunks = 0;
  #itl: number[] = [];
  #finish = "";
  #done = false;
  #text = "";
  #textChars = 0;
  #tokens: GeneratedToken[] = [];
  #tokenAt: number[] = [];

  constructor(options: StreamRecorderOptions) {
    this.#maxTokens = options.maxTokens;
    this.#keepTokens = options.keepTokens ?? options.maxTokens + 16;
    this.#keepTopK = options.keepTopK ?? 20;
    this.#keepTextChars = options.keepTextChars ?? 65536;
    this.#mismatchMode = options.usageMismatch ?? "fail";
  }

  /** True once the stream has failed; the caller stops reading. */
  get failed(): boolean {
    return this.#failure !== "";
  }

  /** True once `[DONE]` arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** Records a failure that happened outside the stream's content (HTTP, socket, timers). First one wins. */
  fail(code: StreamFailure, detail: string): void {
    if (this.#failure !== "") return;
    this.#failure = code;
    this.#detail = detail;
  }

  /** Feeds one SSE event's data, stamped with the arrival time of its last byte. */
  event(data: string, at: number): void {
    if (this.failed) return;
    if (this.#done) return; // Anything after [DONE] is ignored.
    if (data === "[DONE]") {
      this.#done = true;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      this.fail("invalid-json", `event is not JSON: ${JSON.stringify(data.slice(0, 120))}`);
      return;
    }
    if (typeof chunk !== "object" || chunk === null || Array.isArray(chunk)) {
      this.fail("invalid-json", `event is not a JSON object: ${JSON.stringify(data.slice(0, 120))}`);
      return;
    }
    const object = chunk as Record<string, unknown>;
    if (object.error !== undefined) {
      const message = (object.error as { message?: unknown })?.message ?? object.error;
      this.fail(
        "server-error",
        `the server sent an error event: ${String(typeof message === "string" ? message : JSON.stringify(message)).slice(0, 300)}`,
      );
      return;
    }
    const usage = object.usage as { completion_tokens?: unknown; prompt_tokens?: unknown } | null | undefined;
    if (usage && typeof usage === "object") {
      if (typeof usage.completion_tokens === "number") this.#usageCompletion = usage.completion_tokens;
      if (typeof usage.prompt_tokens === "number") this.#usagePrompt = usage.prompt_tokens;
    }
    const choices = object.choices;
    if (!Array.isArray(choices) || choices.length === 0) return; // e.g. the usage-only chunk
    const choice = choices[0] as {
      delta?: { content?: unknown };
      logprobs?: { content?: unknown } | null;
      finish_reason?: unknown;
    };
    if (typeof choice.finish_reason === "string") this.#finish = choice.finish_reason;
    const content = typeof choice.delta?.content === "string" ? choice.delta.content : "";
    const entries = Array.isArray(choice.logprobs?.content)
      ? (choice.logprobs.content as ChunkLogprob[])
      : undefined;
    if (content === "" && (entries === undefined || entries.length === 0)) return; // role-only or empty
    this.#chunks += 1;
    if (Number.isNaN(this.#first)) {
      this.#first = at;
    } else if (this.#itl.length < this.#keepTokens) {
      this.#itl.push(at - this.#last);
    }
    this.#last = at;
    this.#textChars += content.length;
    if (this.#text.length < this.#keepTextChars)
      this.#text += content.slice(0, this.#keepTextChars - this.#text.length);
    if (entries !== undefined) {
      if (this.#logprobTokens < 0) this.#logprobTokens = 0;
      this.#logprobTokens += entries.length;
      for (const entry of entries) {
        if (this.#tokens.length >= this.#keepTokens) break;
        this.#tokens.push(this.#token(entry));
        this.#tokenAt.push(at);
      }
    }
    const counted = this.#logprobTokens >= 0 ? this.#logprobTokens : this.#chunks;
    if (counted > this.#maxTokens) {
      this.fail(
        "exceeds-max-tokens",
        `the stream sent ${counted} tokens, more than max_tokens=${this.#maxTokens}`,
      );
    }
  }

  /** Ends the stream (socket closed or abandoned) and returns what was recorded. */
  finish(): RecordedStream {
    if (!this.failed && !this.#done) this.fail("no-done", "the stream ended without data: [DONE]");
    let source: TokenCountSource = TokenCountSource.UNSPECIFIED;
    let tokens = 0;
    if (this.#logprobTokens >= 0) {
      source = TokenCountSource.LOGPROBS;
      tokens = this.#logprobTokens;
    } else if (this.#usageCompletion >= 0) {
      source = TokenCountSource.USAGE;
      tokens = this.#usageCompletion;
    } else if (this.#chunks > 0) {
      source = TokenCountSource.CHUNKS;
      tokens = this.#chunks;
    }
    let mismatch = false;
    if (
      this.#logprobTokens >= 0 &&
      this.#usageCompletion >= 0 &&
      this.#usageCompletion !== this.#logprobTokens
    ) {
      mismatch = true;
      if (this.#mismatchMode === "fail") {
        this.fail(
          "usage-mismatch",
          `usage.completion_tokens=${this.#usageCompletion} but logprobs.content held ${this.#logprobTokens} tokens`,
        );
      }
    }
    if (!this.failed && this.#chunks === 0) this.fail("no-content", "the stream ended without any content");
    if (!this.failed && this.#logprobTokens < 0 && this.#usageCompletion > this.#maxTokens) {
      this.fail(
        "exceeds-max-tokens",
        `usage.completion_tokens=${this.#usageCompletion} is more than max_tokens=${this.#maxTokens}`,
      );
    }
    return {
      failure: this.#failure,
      failureDetail: this.#detail,
      firstContentAt: this.#first,
      lastContentAt: this.#last,
      outputTokens: tokens,
      tokenCountSource: source,
      logprobTokens: this.#logprobTokens,
      usageCompletionTokens: this.#usageCompletion,
      usagePromptTokens: this.#usagePrompt,
      contentChunks: this.#chunks,
      itlMs: this.#itl,
      finishReason: this.#finish,
      sawDone: this.#done,
      usageMismatch: mismatch,
      text: this.#text,
      textChars: this.#textChars,
      tokens: this.#tokens,
      tokenAt: this.#tokenAt,
    };
  }

  #token(entry: ChunkLogprob): GeneratedToken {
    const token = typeof entry.token === "string" ? entry.token : "";
    const logprob = typeof entry.logprob === "number" ? entry.logprob : Number.NaN;
    const top: GeneratedToken["top"] = [];
    if (Array.isArray(entry.top_logprobs)) {
      for (const alt of entry.top_logprobs as ChunkLogprob[]) {
        if (top.length >= this.#keepTopK) break;
        if (typeof alt?.token === "string" && typeof alt.logprob === "number") {
          top.push({ token: alt.token, logprob: alt.logprob });
        }
      }
    }
    return { token, logprob, top };
  }
}
