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
  | "slow-drip";

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

/** Parses a mode name; undefined when it is not one. */
export function parseSimLlmMode(name: string): SimLlmMode | undefined {
  return (simLlmModes as readonly string[]).includes(name) ? (name as SimLlmMode) : undefined;
}
