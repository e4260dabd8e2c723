import { type GeneratedOutput, tokenIdOf } from "./generated-output.ts";
import { failure, type OutputFailure } from "./output-failure.ts";

/** What the integrity checks need of the reference's tokenizer (shared/tokenizer's QwenTokenizer fits). */
export interface JudgeTokenizer {
  /** True for an id of the tokenizer's vocabulary. */
  isTokenId(id: unknown): boolean;
  /** True for special tokens (end of turn, padding): they carry no text in a streamed output. */
  isSpecial(id: number): boolean;
  /** Text of ids, as the server streams it (special tokens left out). */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Token ids of a text. */
  encode(text: string): number[];
}

/** Options of {@link checkIntegrity}. */
export interface IntegrityOptions {
  /** The reference's tokenizer. */
  tokenizer: JudgeTokenizer;
  /** The request's max_tokens. */
  maxTokens: number;
  /** The request asked for exactly max_tokens tokens (ignore_eos, min_tokens). @default false */
  fixedOutputLength?: boolean;
  /**
   * Largest relative difference between the claimed token count and the count of re-tokenising the
   * streamed text, with at least 2 tokens allowed (BPE is not a perfect round trip). @default 0.05
   */
  retokenizedTolerance?: number;
}

/** What {@link checkIntegrity} found. */
export interface IntegrityResult {
  /** Failures, integrity kind only; empty when the output is what it claims. */
  failures: OutputFailure[];
  /** The claimed token ids, when every entry is a known, non-special token id. */
  ids?: number[];
  /** Tokens the reference's tokenizer makes of the streamed text; -1 when not checked. */
  retokenized: number;
}

const replacement = /\uFFFD+$/;

/**
 * Checks that an output is what it claims to be, before any judgement of how good it is: the
 * request completed; every logprobs entry is a token id the reference knows and not a special
 * token; the streamed text is exactly the reference tokenizer's decoding of those ids (as SGLang's
 * benchmark checks), and re-tokenising it gives about as many tokens; usage agrees with the tokens
 * streamed; and the finish reason agrees with the length. Pure.
 */
export function checkIntegrity(output: GeneratedOutput, options: IntegrityOptions): IntegrityResult {
  const failures: OutputFailure[] = [];
  const done = (ids?: number[], retokenized = -1): IntegrityResult => ({
    failures,
    ...(ids ? { ids } : {}),
    retokenized,
  });
  if (!output.ok) {
    const code = output.failure || "failed";
    failures.push(
      failure(
        "request-failed",
        `the request failed (${code}${output.failureDetail ? `: ${output.failureDetail}` : ""})`,
      ),
    );
    return done();
  }
  const n = output.tokens.length;
  if (n === 0) {
    failures.push(failure("no-logprobs", "the stream carried no logprobs.content entries"));
    return done();
  }
  const usage = output.usageCompletionTokens ?? -1;
  if (usage < 0) {
    failures.push(failure("usage-mismatch", "the stream carried no usage.completion_tokens"));
  } else if (usage !== n) {
    failures.push(
      failure("usage-mismatch", `usage.completion_tokens=${usage} but ${n} tokens were streamed`),
    );
  }
  checkFinish(output, n, options, failures);

  const ids: number[] = [];
  for (const [i, t] of output.tokens.entries()) {
    const id = tokenIdOf(t.token);
    if (id === undefined) {
      failures.push(
        failure(
          "no-token-ids",
          `logprobs entry ${i} is ${JSON.stringify(t.token.slice(0, 40))}, not "token_id:<id>"`,
        ),
      );
      return done();
    }
    ids.push(id);
  }
  const unknown = ids.map((id, i) => [id, i] as const).filter(([id]) => !options.tokenizer.isTokenId(id));
  if (unknown.length > 0) {
    const [id, at] = unknown[0] as readonly [number, number];
    failures.push(
      failure(
        "unknown-token-id",
        `${unknown.length} claimed token id(s) unknown to the reference's tokenizer, the first ${id} at position ${at}`,
      ),
    );
    return done();
  }
  const special = ids.map((id, i) => [id, i] as const).filter(([id]) => options.tokenizer.isSpecial(id));
  if (special.length > 0) {
    const [id, at] = special[0] as readonly [number, number];
    failures.push(
      failure(
        "special-token",
        `${special.length} claimed token(s) are special tokens with no text, the first ${id} at position ${at}`,
      ),
    );
    return done();
  }

  const decoded = options.tokenizer.decode(ids, { skipSpecialTokens: true });
  const streamedChars = output.textChars ?? output.text.length;
  if (streamedChars > output.text.length) {
    if (decoded.length < streamedChars) {
      failures.push(
        failure(
          "text-mismatch",
          `the stream carried ${streamedChars} characters of text but the claimed ids decode to ${decoded.length}`,
        ),
      );
    }
  } else {
    // A stream cut inside a multi-byte character: the decoding ends in U+FFFD that a server's
    // incremental detokeniser holds back. Nothing else may differ.
    const a = output.text.replace(replacement, "");
    const b = decoded.replace(replacement, "");
    if (a !== b) {
      let at = 0;
      while (at < a.length && a[at] === b[at]) at++;
      failures.push(
        failure(
          "text-mismatch",
          `the streamed text differs from the decoding of the claimed ids from character ${at}: streamed ${JSON.stringify(a.slice(at, at + 24))}, ids decode to ${JSON.stringify(b.slice(at, at + 24))}`,
        ),
      );
    }
  }
  let retokenized = -1;
  if (streamedChars === output.text.length) {
    retokenized = options.tokenizer.encode(output.text).length;
    const allowed = Math.max(2, Math.ceil((options.retokenizedTolerance ?? 0.05) * n));
    if (Math.abs(retokenized - n) > allowed) {
      failures.push(
        failure(
          "retokenized-count",
          `the streamed text re-tokenises to ${retokenized} tokens but ${n} were claimed (allowed difference ${allowed})`,
        ),
      );
    }
  }
  return done(ids, retokenized);
}

function checkFinish(
  output: GeneratedOutput,
  n: number,
  options: IntegrityOptions,
  failures: OutputFailure[],
): void {
  const { finishReason } = output;
  if (options.fixedOutputLength) {
    if (finishReason !== "length" || n !== options.maxTokens) {
      failures.push(
        failure(
          "finish-reason",
          `a fixed length of ${options.maxTokens} tokens was asked, the output has ${n} and finish_reason ${JSON.stringify(finishReason)}`,
        ),
      );
    }
    return;
  }
  if (finishReason === "length") {
    if (n !== options.maxTokens) {
      failures.push(
        failure(
          "finish-reason",
          `finish_reason "length" after ${n} tokens, but max_tokens is ${options.maxTokens}`,
        ),
      );
    }
  } else if (finishReason !== "stop") {
    failures.push(
      failure(
        "finish-reason",
        `finish_reason ${JSON.stringify(finishReason)} is neither "stop" nor "length"`,
      ),
    );
  }
}
