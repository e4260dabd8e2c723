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
  /** True when the stream completed without a failure. */
  ok: boolean;
  /** Generated text (content deltas joined), capped. */
  text: string;
  /** Tokens from `logprobs.content`, capped; empty when the server sent no logprobs. */
  tokens: GeneratedToken[];
  /** finish_reason of the last choice. */
  finishReason: string;
}

/** The token id inside a "token_id:<id>" token, or undefined when the token is plain text. */
export function tokenIdOf(token: string): number | undefined {
  const match = /^token_id:(\d+)$/.exec(token);
  return match ? Number(match[1]) : undefined;
}
