import { applyQwenChatTemplate } from "../tokenizer/qwen-chat-template.ts";
import type { QwenTokenizer } from "../tokenizer/qwen-tokenizer.ts";
import type { PromptCorpus } from "./prompt-corpus.ts";
import { openings, systemMessages, tasks } from "./prompt-templates.ts";

/** Options of {@link promptSpaceLog10}. */
export interface PromptSpaceOptions {
  corpus: PromptCorpus;
  tokenizer: QwenTokenizer;
  /** Prompt size in tokens. */
  targetTokens: number;
  /** Largest size of the instructions around the documents, in tokens. @default 400 */
  instructionTokens?: number;
}

/** A lower bound on how many different prompts {@link generatePrompt} can make, as log10 of the count. */
export interface PromptSpace {
  /** log10 of the lower bound. */
  log10: number;
  /** Passages of at most `shortTokens` tokens, the only ones the bound counts. */
  shortPassages: number;
  shortTokens: number;
  /** Documents every prompt made only of short passages holds, at least. */
  documents: number;
  /** log10 of each factor. */
  factors: Record<string, number>;
}

/**
 * A lower bound on the number of distinct prompts at a target size: it counts only prompts made of
 * "short" passages (the shorter half of the corpus by tokens), which need at least
 * (target - instructions) / shortTokens documents each, and multiplies the ordered choices of those
 * documents by the choices of system message, reference code, date, opening and task.
 * Every choice counted is one the generator makes with positive probability and changes the text.
 */
export function promptSpaceLog10(options: PromptSpaceOptions): PromptSpace {
  const { corpus, tokenizer, targetTokens } = options;
  const sizes = corpus.passages.map((p) =>
    tokenizer.count(`\n\nDocument 10 — ${p.title} (The World Factbook)\n${p.text}`),
  );
  const sorted = [...sizes].sort((a, b) => a - b);
  const shortTokens = sorted[Math.floor(sorted.length / 2)] ?? 1;
  const shortPassages = sizes.filter((s) => s <= shortTokens).length;
  const header = tokenizer.count(applyQwenChatTemplate([{ role: "user", content: "" }]));
  const room = targetTokens - header - (options.instructionTokens ?? 400);
  const documents = Math.max(1, Math.floor(room / shortTokens));
  let orderedChoices = 0;
  for (let i = 0; i < documents; i++) orderedChoices += Math.log10(shortPassages - i);
  const factors = {
    documents: orderedChoices,
    system: Math.log10(systemMessages.length + 1),
    reference: Math.log10(26 ** 4 * 10 ** 6),
    date: Math.log10(200 * 12 * 28 * 2),
    opening: Math.log10(openings.length),
    // Tasks only: not every task uses every parameter, so parameters are not counted.
    task: Math.log10(tasks.length),
  };
  const log10 = Object.values(factors).reduce((a, b) => a + b, 0);
  return { log10, shortPassages, shortTokens, documents, factors };
}
