import { CacheonError } from "../errors/cacheon-error.ts";
import type { SeededRandom } from "../stats/seeded-random.ts";
import { applyQwenChatTemplate, type QwenChatMessage } from "../tokenizer/qwen-chat-template.ts";
import { type QwenTokenizer, qwenTokenizer } from "../tokenizer/qwen-tokenizer.ts";
import { type CorpusPassage, type PromptCorpus, promptCorpus } from "./prompt-corpus.ts";
import {
  audiences,
  closings,
  formats,
  languages,
  openings,
  questions,
  systemMessages,
  tasks,
} from "./prompt-templates.ts";

/** A prompt made by {@link generatePrompt}: chat messages and their exact size in Qwen2.5 tokens. */
export interface GeneratedPrompt {
  /** Identifier within its workload. */
  id: string;
  messages: QwenChatMessage[];
  /** Tokens of the rendered Qwen2.5-Instruct chat template: what vLLM reports as usage.prompt_tokens. */
  promptTokens: number;
}

/** Options of {@link generatePrompt}. */
export interface GeneratePromptOptions {
  /** Identifier given to the prompt. */
  id: string;
  /** This prompt's own random stream (a keyed one for real rounds: see keyedRandom). */
  random: SeededRandom;
  /** Prompt size in Qwen2.5 chat-template tokens; the prompt lands in [target - tolerance, target]. */
  targetTokens: number;
  /** @default promptCorpus() */
  corpus?: PromptCorpus;
  /** @default qwenTokenizer() */
  tokenizer?: QwenTokenizer;
}

/**
 * How far under its target a prompt may land: the last document is cut at a word boundary, and a
 * gap smaller than a document heading plus a few words cannot be filled.
 */
export function promptTokenTolerance(targetTokens: number): number {
  return Math.max(32, Math.ceil(targetTokens * 0.005));
}

const sourceLabels: Record<string, string> = {
  jargon: "The Jargon File",
  factbook: "The World Factbook",
  kjv: "King James Bible",
};

const months = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

interface Document {
  passage: CorpusPassage;
  text: string;
}

/**
 * One prompt composed from the corpus with `random`: an optional system message, an opening line
 * with a random reference and date, a task with random parameters, documents (corpus passages drawn
 * without replacement, in random order) until the target size, questions about random documents, a
 * closing line. Sized with the real tokenizer and chat template: the last document is cut so the
 * rendered prompt has between target - {@link promptTokenTolerance} and target tokens. Throws
 * "invalid-argument" when the target is too small to hold the instructions and one document.
 */
export function generatePrompt(options: GeneratePromptOptions): GeneratedPrompt {
  const corpus = options.corpus ?? promptCorpus();
  const tokenizer = options.tokenizer ?? qwenTokenizer();
  const { random, targetTokens } = options;
  if (!Number.isInteger(targetTokens) || targetTokens < 1) {
    throw new CacheonError(
      "invalid-argument",
      `prompt target must be a positive number of tokens, got ${targetTokens}`,
    );
  }
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)] as T;
  const system = random.next() < 0.5 ? pick(systemMessages) : undefined;
  const ref = `${letters(random, 2)}-${String(random.int(100000)).padStart(5, "0")}-${letters(random, 2)}${random.int(10)}`;
  const date = randomDate(random);
  const opening = pick(openings);
  const task = pick(tasks);
  const params = {
    n: String(3 + random.int(10)),
    words: String(60 + 20 * random.int(18)),
    language: pick(languages),
    audience: pick(audiences),
    format: pick(formats),
  };
  // Document numbers as fractions of the final count, drawn now so the stream does not depend on sizing.
  const docFractions = Array.from({ length: 12 }, () => random.next());
  const questionCount = Math.max(1, Math.min(5, Math.round(targetTokens / 1500)));
  const asked = random.shuffle(questions).slice(0, questionCount);
  const closing = pick(closings);
  const taskFirst = random.next() < 0.6;

  const render = (docs: readonly Document[]): QwenChatMessage[] => {
    const count = Math.max(1, docs.length);
    let f = 0;
    const doc = () => 1 + Math.floor((docFractions[f++ % docFractions.length] ?? 0) * count);
    const fill = (template: string) => {
      const d = doc();
      let e = doc();
      if (count > 1 && e === d) e = (d % count) + 1;
      return template
        .replaceAll("{ref}", ref)
        .replaceAll("{date}", date)
        .replaceAll("{count}", String(docs.length))
        .replaceAll("{n}", params.n)
        .replaceAll("{words}", params.words)
        .replaceAll("{language}", params.language)
        .replaceAll("{audience}", params.audience)
        .replaceAll("{format}", params.format)
        .replaceAll("{d}", String(d))
        .replaceAll("{e}", String(e));
    };
    const taskText = `Task: ${fill(task)}`;
    const parts = [fill(opening)];
    if (taskFirst) parts.push(taskText);
    docs.forEach((d, i) => {
      parts.push(documentText(i + 1, d.passage, d.text));
    });
    if (!taskFirst) parts.push(taskText);
    parts.push(`Questions:\n${asked.map((q, i) => `${i + 1}. ${fill(q)}`).join("\n")}`);
    parts.push(closing);
    const messages: QwenChatMessage[] = [];
    if (system) messages.push({ role: "system", content: system });
    messages.push({ role: "user", content: parts.join("\n\n") });
    return messages;
  };
  const size = (docs: readonly Document[]) => tokenizer.count(applyQwenChatTemplate(render(docs)));

  const tolerance = promptTokenTolerance(targetTokens);
  const base = size([]);
  if (base + 16 > targetTokens) {
    throw new CacheonError(
      "invalid-argument",
      `a prompt target of ${targetTokens} tokens is too small: the instructions alone take about ${base}; use at least ${base + 16 + tolerance}`,
    );
  }
  // Documents are added whole until the prompt passes the target; the last one is then cut to fit
  // (its tokens are nearly additive, so the first cut is usually right; a second corrects it). A
  // cut that leaves too little of it drops it and draws another passage. Far from the target a
  // document's own count is added to the running total (joints at "\n\n" barely change it);
  // near it the whole prompt is counted, so a prompt costs a few encodes of itself, not one per
  // document.
  const docs: Document[] = [];
  const used = new Set<number>();
  let exact = base;
  let counted = true;
  for (let rounds = 0; rounds < 400; rounds++) {
    if (!counted && exact >= targetTokens - tolerance) {
      exact = size(docs);
      counted = true;
    }
    if (exact >= targetTokens - tolerance && exact <= targetTokens) break;
    if (exact < targetTokens) {
      if (used.size === corpus.passages.length) break;
      let index = random.int(corpus.passages.length);
      while (used.has(index)) index = (index + 1) % corpus.passages.length;
      used.add(index);
      const passage = corpus.passages[index] as CorpusPassage;
      docs.push({ passage, text: passage.text });
      exact += tokenizer.count(`\n\n${documentText(docs.length, passage, passage.text)}`);
      counted = false;
      continue;
    }
    const last = docs.at(-1) as Document;
    const ids = tokenizer.encode(last.text);
    const keep = ids.length - (exact - targetTokens) - (rounds % 4);
    const cut = keep >= 8 ? cutAtWord(tokenizer.decode(ids.slice(0, keep))) : "";
    if (cut === "" || cut === last.text) docs.pop();
    else last.text = cut;
    exact = size(docs);
  }
  if (!counted) exact = size(docs);
  if (docs.length === 0 || exact > targetTokens || exact < targetTokens - tolerance) {
    throw new CacheonError(
      "internal",
      `could not size prompt ${options.id} to ${targetTokens} tokens (got ${exact} with ${docs.length} documents)`,
    );
  }
  return { id: options.id, messages: render(docs), promptTokens: exact };
}

function documentText(n: number, passage: CorpusPassage, text: string): string {
  return `Document ${n} — ${passage.title} (${sourceLabels[passage.source] ?? passage.source})\n${text}`;
}

/** Text up to its last whitespace, so a cut document does not end in half a word. */
function cutAtWord(text: string): string {
  const at = text.search(/\s\S*$/);
  return (at > 0 ? text.slice(0, at) : text).trimEnd();
}

function letters(random: SeededRandom, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) out += String.fromCharCode(65 + random.int(26));
  return out;
}

function randomDate(random: SeededRandom): string {
  const year = 1900 + random.int(200);
  const month = random.int(12);
  const day = 1 + random.int(28);
  return random.next() < 0.5
    ? `${day} ${months[month]} ${year}`
    : `${year}-${String(month + 1).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}
