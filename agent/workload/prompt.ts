import type { PromptKind } from "../../shared/correctness/generated-output.ts";

/** One chat message of a prompt. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One prompt of a workload: what is sent as `messages` (the server applies its chat template). */
export interface Prompt {
  /** Identifier within its source, e.g. "summarise/ferry-crossing" or "p07"; never sent. */
  id: string;
  /** Messages in order. */
  messages: ChatMessage[];
  /** Why it is sent, when it is in a timed repetition; never sent. @default "scored" */
  kind?: PromptKind;
}

/** Total characters of a prompt's message contents. */
export function promptChars(prompt: Prompt): number {
  let n = 0;
  for (const m of prompt.messages) n += m.content.length;
  return n;
}
