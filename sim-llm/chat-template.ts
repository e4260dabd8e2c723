import { CacheonError } from "../shared/errors/cacheon-error.ts";
import type { QwenChatMessage } from "../shared/tokenizer/qwen-chat-template.ts";

/** A chat message as the OpenAI API carries it. */
export type ChatMessage = QwenChatMessage;

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
