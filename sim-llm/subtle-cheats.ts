import { bundledPassages } from "../agent/workload/bundled-corpus.ts";
import { type GeneratedToken, Generation, type SamplingParams } from "./generation.ts";
import { canaryGuessShare, nearTieGap } from "./sim-llm-mode.ts";
import { type ModelState, mix, type SimModel } from "./sim-model.ts";
import { decode, encode, isSpecial, tokenText, vocabularySize } from "./tokenizer.ts";

/**
 * The pieces of the subtle cheats a miner who wants to be paid would try once the obvious ones are
 * caught (issue 14). Each is what a real server could do; the handler decides when to send what.
 */

/** The whole honest answer, generated ahead (greedy answers are a pure function of the prompt). */
export function honestAnswer(
  model: SimModel,
  promptState: ModelState,
  params: SamplingParams,
): GeneratedToken[] {
  const generation = new Generation(model, promptState, {
    ...params,
    topLogprobs: Math.max(2, params.topLogprobs),
  });
  const tokens: GeneratedToken[] = [];
  for (let t = generation.next(); t; t = generation.next()) tokens.push(t);
  return tokens;
}

/**
 * Where an answer has its first near-tie worth taking: from the third token on, the first position
 * whose two most likely tokens are within {@link nearTieGap} nats (and the runner-up is a word, not
 * the end of the turn); else the position with the smallest such gap. -1 for an answer too short.
 */
export function nearTieIndex(tokens: readonly GeneratedToken[]): number {
  let best = -1;
  let bestGap = Number.POSITIVE_INFINITY;
  for (let i = 2; i < tokens.length - 1; i++) {
    const [first, second] = (tokens[i] as GeneratedToken).top;
    if (!first || !second || isSpecial(second.id)) continue;
    const gap = first.logprob - second.logprob;
    if (gap < nearTieGap) return i;
    if (gap < bestGap) {
      bestGap = gap;
      best = i;
    }
  }
  return best;
}

/** One token of junk as a cheat streams it: the id it claims, the text it sends, the logprob it reports. */
export interface JunkToken {
  id: number;
  text: string;
  logprob: number;
}

const junkWords = " lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor";

/**
 * `count` junk tokens: "ids" claims ids past the end of the vocabulary; "text" claims real ids
 * (" the") but streams other text; "valid" streams real tokens with their own text. Each is
 * reported as a confident choice.
 */
export function junkTokens(kind: "ids" | "text" | "valid", count: number): JunkToken[] {
  const words = encode(junkWords);
  const the = encode(" the")[0] as number;
  return Array.from({ length: count }, (_, i) => {
    const word = words[i % words.length] as number;
    switch (kind) {
      case "ids":
        return { id: vocabularySize + 1000 + (i % 50), text: tokenText(word), logprob: -0.05 };
      case "text":
        return { id: the, text: tokenText(word), logprob: -0.05 };
      default:
        return { id: word, text: tokenText(word), logprob: -0.05 };
    }
  });
}

/**
 * Whether `canary-honest` takes a prompt for a canary: a fixed share of prompts by a hash of their
 * ids. Canaries are indistinguishable from scored prompts, so any such guess is a guess.
 */
export function guessesCanary(promptIds: readonly number[]): boolean {
  let h = 0x9e3779b9;
  for (const id of promptIds) h = mix(h ^ id);
  return h / 2 ** 32 < canaryGuessShare;
}

const tabled = bundledPassages.map((p, i) => ({ key: `${p.title}\n\n${p.text}`, covered: i % 2 === 0 }));

/**
 * Whether `precomputed-table` holds the answer to a prompt: prompts built from the bundled pool
 * whose (first) passage is one of the half it precomputed.
 */
export function tableCovers(promptIds: readonly number[]): boolean {
  const text = decode(promptIds);
  let first: { at: number; covered: boolean } | undefined;
  for (const p of tabled) {
    const at = text.indexOf(p.key);
    if (at >= 0 && (!first || at < first.at)) first = { at, covered: p.covered };
  }
  return first?.covered ?? false;
}
