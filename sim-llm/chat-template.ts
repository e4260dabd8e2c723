import { CacheonError } from "../shared/errors/cacheon-error.ts";

/** A chat message as the OpenAI API carries it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Qwen2.5's default system prompt, added when the conversation has none. */
export const defaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/**
 * Renders messages with Qwen2.5-Instruct's chat template (ChatML): an optional default system turn,
 * one `<|im_start|>role\ncontent<|im_end|>\n` per message, then `<|im_start|>assistant\n` when a
 * generation prompt is wanted.
 */
export function applyChatTemplate(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
  let out = "";
  if (messages[0]?.role !== "system") out += `<|im_start|>system\n${defaultSystemPrompt}<|im_end|>\n`;
  for (const m of messages) out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  if (addGenerationPrompt) out += "<|im_start|>assistant\n";
  return out;
}

/**
 * Checks an OpenAI `messages` array: each a `{role, content}` with role system, user or assistant and
 * content a string or a list of `{type: "text", text}` parts. Throws "invalid-argument" naming the
 * first bad field.
 */
export function parseMessages(raw: unknown): ChatMessage[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new CacheonError(
      "invalid-argument",
      "messages: must be a non-empty list of {role, content} objects",
    );
  }
  return raw.map((m, i) => {
    if (m === null || typeof m !== "object") {
      throw new CacheonError("invalid-argument", `messages[${i}]: must be an object with role and content`);
    }
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw new CacheonError(
        "invalid-argument",
        `messages[${i}].role: ${JSON.stringify(role)} is not one of "system", "user", "assistant"`,
      );
    }
    if (typeof content === "string") return { role, content };
    if (Array.isArray(content)) {
      const texts = content.map((part, j) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        if (p?.type !== "text" || typeof p.text !== "string") {
          throw new CacheonError(
            "invalid-argument",
            `messages[${i}].content[${j}]: only {type: "text", text: string} parts are supported`,
          );
        }
        return p.text;
      });
      return { role, content: texts.join("\n") };
    }
    throw new CacheonError(
      "invalid-argument",
      `messages[${i}].content: must be a string or a list of text parts`,
    );
  });
}
