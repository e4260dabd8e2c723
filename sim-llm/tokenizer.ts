import { qwenTokenizer } from "../shared/tokenizer/qwen-tokenizer.ts";

/**
 * The sim's tokenizer is Qwen2.5's real byte-level BPE (shared/tokenizer), so token ids, texts and
 * counts are the ones a vLLM serving Qwen2.5-72B-Instruct gives, and text -> ids is not always a
 * round trip (".\n" is one token, "." then "\n" two): the judge is tested under real conditions.
 */
const tokenizer = qwenTokenizer();

/** Number of ids the tokenizer knows (151,665). */
export const vocabularySize = tokenizer.vocabularySize;

/** Token ids of a text; special-token strings (`<|im_start|>`, ...) become their ids. */
export function encode(text: string): number[] {
  return tokenizer.encode(text);
}

/** True when `id` is a token id of the tokenizer. */
export function isTokenId(id: unknown): id is number {
  return tokenizer.isTokenId(id);
}

/** True for special tokens (end of text, chat turn markers, ...). */
export function isSpecial(id: number): boolean {
  return tokenizer.isSpecial(id);
}

/** Decodes ids into text; `skipSpecial` drops special tokens (as vLLM's output does). */
export function decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
  return tokenizer.decode(ids, { skipSpecialTokens: options.skipSpecial ?? false });
}

/** One token's text as shown in logprobs (a lone byte of a multi-byte character shows as U+FFFD). */
export function tokenText(id: number): string {
  return tokenizer.tokenText(id);
}

const bytesCache: Array<readonly number[] | undefined> = [];

/** The UTF-8 bytes of a token's text, as the `bytes` of a logprobs entry. */
export function tokenBytes(id: number): readonly number[] {
  let bytes = bytesCache[id];
  if (bytes === undefined) {
    bytes = [...Buffer.from(tokenText(id))];
    bytesCache[id] = bytes;
  }
  return bytes;
}
