import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import type { Prompt } from "./prompt.ts";

/** Options of {@link chatRequestBody}. */
export interface ChatRequestOptions {
  /** Model name sent. */
  model: string;
  /** The workload: max_tokens, fixed length, top_logprobs. */
  workload: Pick<WorkloadSpec, "maxTokens" | "fixedOutputLength" | "topLogprobs">;
  /**
   * Ask for "token_id:<id>" tokens in logprobs (vLLM's return_tokens_as_token_ids), so outputs
   * compare by token id and teacher forcing can replay them exactly. @default true
   */
  tokenIds?: boolean;
}

/**
 * The body of one streamed chat-completions request, the same bytes for every arm: greedy,
 * streamed with usage, per-token logprobs when top_logprobs > 0, and exactly max_tokens tokens
 * when the workload fixes the output length.
 */
export function chatRequestBody(prompt: Prompt, options: ChatRequestOptions): Record<string, unknown> {
  const { workload } = options;
  const body: Record<string, unknown> = {
    model: options.model,
    messages: prompt.messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0,
    max_tokens: workload.maxTokens,
  };
  if (workload.topLogprobs > 0) {
    body.logprobs = true;
    body.top_logprobs = workload.topLogprobs;
    if (options.tokenIds ?? true) body.return_tokens_as_token_ids = true;
  }
  if (workload.fixedOutputLength) {
    body.ignore_eos = true;
    body.min_tokens = workload.maxTokens;
  }
  return body;
}
