/** How a sim server behaves: honestly, or in one of the ways real miners' servers misbehaved. */
export type SimLlmMode =
  /** Serves the model at its speed. */
  | "honest"
  /** Serves another model: different tokens, self-consistent logprobs. */
  | "wrong-model"
  /** Honest tokens, distorted logprobs. */
  | "perturbed-logprobs"
  /** Ends with finish_reason "stop" after half of max_tokens. */
  | "early-stop"
  /** Streams tokens past max_tokens (and counts them in usage). */
  | "token-inflation"
  /** Generates at normal speed but holds every chunk back and flushes them in one burst at the end. */
  | "stream-buffering"
  /** Sends the role chunk as soon as the request arrives, then stalls through prefill. */
  | "role-then-stall"
  /** Remembers responses and answers a repeated request instantly. */
  | "response-cache"
  /** On prompts that look like a benchmark (>= 512 tokens) answers 3x faster from a wrong model. */
  | "benchmark-detect"
  /** Reports usage counts that differ from what it sent. */
  | "false-usage"
  /** Dies after serving `crashAfterRequests` requests: the process exits, in-process it drops every socket. */
  | "crash-after"
  /** Binds its port but /health never turns 200. */
  | "never-ready"
  /** Streams two tokens, then sends nothing more and keeps the connection open. */
  | "hang-mid-stream"
  /** Sends one chunk of several megabytes after the first token. */
  | "huge-chunk"
  /** Sends a data line that is not JSON in place of the second token. */
  | "invalid-json"
  /** Writes its response one byte at a time with a pause between bytes. */
  | "slow-drip"
  /** Stops (finish_reason "stop") just above the length rule: after ceil(0.9 x its honest length) + 1 tokens. */
  | "truncate"
  /**
   * Follows the model to its first near-tie, takes the runner-up token there (as an honest server
   * with other numerics might), then streams junk at once up to max_tokens, claiming token ids the
   * reference's vocabulary does not have.
   */
  | "near-tie-junk-ids"
  /** The same, the junk claiming real token ids while streaming other text. */
  | "near-tie-junk-text"
  /** The same, the junk real tokens with their own text: nonsense the model would not write. */
  | "near-tie-junk"
  /** Remembers requests and serves a repeated one from its replay, about 15% faster (under the old 25% alarm). */
  | "partial-replay"
  /**
   * Holds precomputed answers for half of the bundled prompt pool (the prompts whose passage it
   * knows) and streams them at once, without prefill or decode time; other prompts honestly.
   */
  | "precomputed-table"
  /** Honest on prompts it takes for canaries (a quarter, by a hash of the prompt); fast and wrong on the rest. */
  | "canary-honest";

/** The subtle cheats a paid miner would try once the obvious ones are caught (issue 14). */
export const subtleCheatModes = [
  "truncate",
  "near-tie-junk-ids",
  "near-tie-junk-text",
  "near-tie-junk",
  "partial-replay",
  "precomputed-table",
  "canary-honest",
] as const satisfies readonly SimLlmMode[];

/** Every mode, for flag validation and help. */
export const simLlmModes: readonly SimLlmMode[] = [
  "honest",
  "wrong-model",
  "perturbed-logprobs",
  "early-stop",
  "token-inflation",
  "stream-buffering",
  "role-then-stall",
  "response-cache",
  "benchmark-detect",
  "false-usage",
  "crash-after",
  "never-ready",
  "hang-mid-stream",
  "huge-chunk",
  "invalid-json",
  "slow-drip",
  ...subtleCheatModes,
];

/** Salt of the wrong model's distributions. */
export const wrongModelSalt = 0x2545f491;
/** Prompt length from which `benchmark-detect` treats a request as a benchmark. */
export const benchmarkPromptTokens = 512;
/** How much faster `benchmark-detect` answers benchmark prompts. */
export const benchmarkSpeedup = 3;
/** Tokens `hang-mid-stream` sends before it goes quiet. */
export const hangAfterTokens = 2;
/** Size of the `huge-chunk` content delta, in bytes. */
export const hugeChunkBytes = 4 * 1024 * 1024;
/** Extra tokens `token-inflation` sends past max_tokens: this share of max_tokens, at least 8. */
export function inflationOvershoot(maxTokens: number): number {
  return Math.max(8, Math.ceil(maxTokens * 0.25));
}
/** Where `early-stop` ends: half of max_tokens, at least 1. */
export function earlyStopAt(maxTokens: number): number {
  return Math.max(1, Math.floor(maxTokens / 2));
}
/** The usage `false-usage` reports instead of the true counts. */
export function falseUsage(
  promptTokens: number,
  completionTokens: number,
): { prompt: number; completion: number } {
  return {
    prompt: Math.max(1, Math.round(promptTokens * 0.8)),
    completion: Math.round(completionTokens * 1.5) + 3,
  };
}

/** Where `truncate` stops an answer of `honest` tokens: just above the 90% length rule (never past the end). */
export function truncateAt(honest: number): number {
  return Math.min(honest, Math.ceil(0.9 * honest) + 1);
}
/** Largest gap between the two most likely tokens (nats) the near-tie modes take for a near-tie. */
export const nearTieGap = 0.5;
/** How much faster `partial-replay` serves a repeated request: 15% less time. */
export const replaySpeedup = 1 / 0.85;
/** Share of prompts `canary-honest` takes for canaries. */
export const canaryGuessShare = 0.25;

/** Parses a mode name; undefined when it is not one. */
export function parseSimLlmMode(name: string): SimLlmMode | undefined {
  return (simLlmModes as readonly string[]).includes(name) ? (name as SimLlmMode) : undefined;
}
