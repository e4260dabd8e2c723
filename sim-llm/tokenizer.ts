import { BYTE_BASE, specialTokens, vocabulary } from "./vocabulary.ts";

const pieceIds: ReadonlyMap<string, number> = new Map(vocabulary.map((piece, id) => [piece, id]));
const maxPieceLength = Math.max(...vocabulary.map((p) => p.length));
const specialPattern = new RegExp(`(${specialTokens.map((s) => s.replace(/[|<>]/g, "\\$&")).join("|")})`);
/** Pre-tokenizer: a word with an optional leading space, a digit, another symbol, or whitespace. */
const chunkPattern = / ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]|\s/gu;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Number of ids in the vocabulary. */
export const vocabularySize = vocabulary.length;

/**
 * Encodes text into token ids. Special-token strings become their special ids (as Hugging Face
 * tokenizers do for chat templates); everything else is pre-split into chunks, each one token when
 * the vocabulary has it, else the longest known pieces, else UTF-8 byte tokens. Total: every string
 * encodes, and {@link decode} gives it back.
 */
export function encode(text: string): number[] {
  const ids: number[] = [];
  for (const part of text.split(specialPattern)) {
    if (part === "") continue;
    const special = specialTokens.indexOf(part);
    if (special >= 0) {
      ids.push(special);
      continue;
    }
    for (const match of part.matchAll(chunkPattern)) encodeChunk(match[0], ids);
  }
  return ids;
}

function encodeChunk(chunk: string, ids: number[]): void {
  const whole = pieceIds.get(chunk);
  if (whole !== undefined) {
    ids.push(whole);
    return;
  }
  let at = 0;
  while (at < chunk.length) {
    let found = -1;
    let length = Math.min(maxPieceLength, chunk.length - at);
    for (; length > 0; length--) {
      const id = pieceIds.get(chunk.slice(at, at + length));
      if (id !== undefined && id >= BYTE_BASE + 256) {
        found = id;
        break;
      }
    }
    if (found >= 0) {
      ids.push(found);
      at += length;
    } else {
      const codePoint = chunk.codePointAt(at) ?? 0;
      const char = String.fromCodePoint(codePoint);
      for (const b of encoder.encode(char)) ids.push(BYTE_BASE + b);
      at += char.length;
    }
  }
}

/** True when `id` is a token id of this vocabulary. */
export function isTokenId(id: unknown): id is number {
  return typeof id === "number" && Number.isInteger(id) && id >= 0 && id < vocabulary.length;
}

/** True for special tokens (end of text, chat turn markers). */
export function isSpecial(id: number): boolean {
  return id >= 0 && id < BYTE_BASE;
}

const bytesCache: Array<readonly number[] | undefined> = [];
const textCache: Array<string | undefined> = [];

/** The bytes a token stands for; special tokens stand for their own text. */
export function tokenBytes(id: number): readonly number[] {
  let bytes = bytesCache[id];
  if (bytes === undefined) {
    bytes =
      id >= BYTE_BASE && id < BYTE_BASE + 256
        ? [id - BYTE_BASE]
        : Array.from(encoder.encode(vocabulary[id] ?? ""));
    bytesCache[id] = bytes;
  }
  return bytes;
}

/**
 * Decodes ids into text. Byte tokens are joined before UTF-8 decoding, so multi-byte characters
 * split over byte tokens come back whole. `skipSpecial` drops special tokens (as vLLM's output does).
 */
export function decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
  let out = "";
  let pending: number[] = [];
  const flush = () => {
    if (pending.length > 0) out += decoder.decode(Uint8Array.from(pending));
    pending = [];
  };
  for (const id of ids) {
    if (id >= BYTE_BASE && id < BYTE_BASE + 256) {
      pending.push(id - BYTE_BASE);
      continue;
    }
    flush();
    if (options.skipSpecial && isSpecial(id)) continue;
    out += vocabulary[id] ?? "";
  }
  flush();
  return out;
}

/** One token's text as shown in logprobs (a lone byte of a multi-byte character shows as U+FFFD). */
export function tokenText(id: number): string {
  let text = textCache[id];
  if (text === undefined) {
    text = decode([id]);
    textCache[id] = text;
  }
  return text;
}
