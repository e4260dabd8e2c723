import { type QwenTokenizer, qwenTokenizer } from "./qwen-tokenizer.ts";

/** A chat message as the OpenAI API carries it (text content only). */
export interface QwenChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Qwen2.5-Instruct's default system message, rendered when the conversation has none. */
export const QWEN_DEFAULT_SYSTEM_MESSAGE =
  "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/** Options of {@link applyQwenChatTemplate}. */
export interface QwenChatTemplateOptions {
  /** End with `<|im_start|>assistant\n`, where the model's answer starts. @default true */
  addGenerationPrompt?: boolean;
}

/**
 * The text Qwen2.5-Instruct's chat template (ChatML, no tools) renders: the first message's system
 * turn or the default one, then `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then the
 * generation prompt. vLLM renders this and tokenizes it without adding special tokens.
 */
export function applyQwenChatTemplate(
  messages: readonly QwenChatMessage[],
  options: QwenChatTemplateOptions = {},
): string {
  let out = "";
  if (messages[0]?.role !== "system") out += `<|im_start|>system\n${QWEN_DEFAULT_SYSTEM_MESSAGE}<|im_end|>\n`;
  for (const m of messages) out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  if (options.addGenerationPrompt ?? true) out += "<|im_start|>assistant\n";
  return out;
}

/**
 * The prompt token ids a vLLM serving Qwen2.5-Instruct feeds the model for these messages: the
 * rendered chat template, encoded. Its length is the request's `usage.prompt_tokens`.
 */
export function qwenChatPromptIds(
  messages: readonly QwenChatMessage[],
  tokenizer: QwenTokenizer = qwenTokenizer(),
): number[] {
  return tokenizer.encode(applyQwenChatTemplate(messages));
}
