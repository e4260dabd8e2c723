/** One alternative the server listed for a position (an entry of `top_logprobs`). */
export interface TokenAlternative {
  /** Token as the server wrote it: text, or "token_id:<id>" when token ids were requested. */
  token: string;
  /** Natural-log probability. */
  logprob: number;
}

/** One generated token with its logprob and the alternatives at its position. */
export interface GeneratedToken {
  /** Token as the server wrote it: text, or "token_id:<id>" when token ids were requested. */
  token: string;
  /** Logprob of the chosen token, nats. */
  logprob: number;
  /** Top-k alternatives at this position, best first (capped by the recorder). */
  top: TokenAlternative[];
}

/**
 * What a timed request is for: "scored" (timed and judged), "probe" (repeated on purpose in every
 * repetition to measure response caching; judged, not timed for speed), "canary" (timed and judged
 * with no allowance at all). Servers cannot tell them apart.
 */
export type PromptKind = "scored" | "probe" | "canary";

/**
 * What one timed request produced, kept for correctness: the very output whose timing was
 * measured, so a server cannot tell checked requests from timed ones.
 */
export interface GeneratedOutput {
  /** Repetition of the timed workload, 0-based. */
  repetition: number;
  /** Position of the request in the workload, 0-based. */
  requestIndex: number;
  /** Prompt identifier. */
  promptId: string;
  /** What the request is for. @default "scored" */
  kind?: PromptKind;
  /** True when the stream completed without a failure. */
  ok: boolean;
  /** Generated text (content deltas joined), capped. */
  text: string;
  /** Tokens from `logprobs.content`, capped; empty when the server sent no logprobs. */
  tokens: GeneratedToken[];
  /** finish_reason of the last choice. */
  finishReason: string;
  /**
   * Milliseconds from sending the request to the arrival of each kept token (one per
   * `logprobs.content` entry, the time of the chunk that carried it). Same length as `tokens`;
   * absent or empty when not recorded. Time to token k is `tokenTimesMs[k - 1]`.
   */
  tokenTimesMs?: number[];
  /** usage.completion_tokens the server reported; -1 or absent when it sent none. */
  usageCompletionTokens?: number;
  /** Characters of content the stream carried (text may be capped); absent when unknown. */
  textChars?: number;
  /** The stream's failure code ("" when ok), e.g. "usage-mismatch", "exceeds-max-tokens". */
  failure?: string;
  /** The failure's detail. */
  failureDetail?: string;
}

/** The token id inside a "token_id:<id>" token, or undefined when the token is plain text. */
export function tokenIdOf(token: string): number | undefined {
  const match = /^token_id:(\d+)$/.exec(token);
  return match ? Number(match[1]) : undefined;
}
