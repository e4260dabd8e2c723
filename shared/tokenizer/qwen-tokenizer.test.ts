import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { applyQwenChatTemplate, qwenChatPromptIds } from "./qwen-chat-template.ts";
import {
  END_OF_TEXT_ID,
  IM_END_ID,
  IM_START_ID,
  QWEN_VOCABULARY_SIZE,
  qwenTokenizer,
} from "./qwen-tokenizer.ts";

// Known answers published by others, so the tokenizer is checked against Qwen's own (Python,
// Rust) tokenizer rather than against itself. These are llama.cpp's test vectors for the Qwen2
// vocabulary (models/ggml-vocab-qwen2.gguf.inp/.out, produced with Hugging Face's tokenizer of
// Qwen2, whose BPE Qwen2.5 keeps), escaped as JSON.
// biome-ignore format: one vector per line
const llamaCppQwen2Vectors: ReadonlyArray<readonly [string, readonly number[]]> = [
  ["ied 4 \u00bd months", [1122, 220, 19, 220, 26062, 3951]],
  ["F\u00fchrer", [37, 50753, 261]],
  ["", []],
  [" ", [220]],
  ["  ", [256]],
  ["   ", [262]],
  ["\t", [197]],
  ["\n", [198]],
  ["\n\n", [271]],
  ["\n\n\n", [1406]],
  ["\t\n", [1572]],
  ["Hello world", [9707, 1879]],
  [" Hello world", [21927, 1879]],
  ["Hello World", [9707, 4337]],
  [" Hello World", [21927, 4337]],
  [" Hello World!", [21927, 4337, 0]],
  ["Hello, world!", [9707, 11, 1879, 0]],
  [" Hello, world!", [21927, 11, 1879, 0]],
  [" this is \ud83e\udd99.cpp", [419, 374, 11162, 99, 247, 13, 10821]],
  ["w048 7tuijk dsdfhu", [86, 15, 19, 23, 220, 22, 83, 1963, 41808, 11472, 2940, 16739]],
  ["\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438", [78762, 14144, 1456, 13073, 63471, 33594, 3038, 133178, 79012]],
  ["\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\u1781\u179b\u1785\u17c1\u1789", [146394, 97529, 241, 44258, 233, 146568, 44258, 224, 147603, 20879, 115, 146280, 44258, 223, 146280, 147272, 97529, 227, 147805, 148301, 147270, 44258, 223, 146848]],
  ["\ud83d\ude80 (normal) \ud83d\ude36\u200d\ud83c\udf2b\ufe0f (multiple emojis concatenated) \u2705 (only emoji that has its own token)", [145836, 320, 8252, 8, 26525, 114, 378, 235, 149921, 30543, 320, 35673, 99066, 97534, 8, 25521, 227, 320, 3243, 42365, 429, 702, 1181, 1828, 3950, 8]],
  ["Hello", [9707]],
  [" Hello", [21927]],
  ["  Hello", [220, 21927]],
  ["   Hello", [256, 21927]],
  ["    Hello", [262, 21927]],
  ["    Hello\n    Hello", [262, 21927, 198, 262, 21927]],
  [" (", [320]],
  ["\n =", [198, 284]],
  ["' era", [6, 11385]],
  ["Hello, y'all! How are you \ud83d\ude01 ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e", [9707, 11, 379, 64848, 0, 2585, 525, 498, 26525, 223, 937, 104100, 18493, 22377, 99257, 16, 18, 16, 19, 16, 20, 16, 35727, 21216]],
  ["3", [18]],
  ["33", [18, 18]],
  ["333", [18, 18, 18]],
  ["3333", [18, 18, 18, 18]],
  ["33333", [18, 18, 18, 18, 18]],
  ["333333", [18, 18, 18, 18, 18, 18]],
  ["3333333", [18, 18, 18, 18, 18, 18, 18]],
  ["33333333", [18, 18, 18, 18, 18, 18, 18, 18]],
  ["333333333", [18, 18, 18, 18, 18, 18, 18, 18, 18]],
  ["\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\ud83d\ude80 (normal) \ud83d\ude36\u200d\ud83c\udf2b\ufe0f (multiple emojis concatenated) \u2705 \ud83e\udd99\ud83e\udd99 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\ud83d\ude01 ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e ------======= \u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL", [198, 4710, 14731, 65497, 7847, 1572, 2303, 78672, 10947, 145836, 320, 8252, 8, 26525, 114, 378, 235, 149921, 30543, 320, 35673, 99066, 97534, 8, 25521, 227, 11162, 99, 247, 149955, 220, 18, 220, 18, 18, 220, 18, 18, 18, 220, 18, 18, 18, 18, 220, 18, 18, 18, 18, 18, 220, 18, 18, 18, 18, 18, 18, 220, 18, 18, 18, 18, 18, 18, 18, 220, 18, 18, 18, 18, 18, 18, 18, 18, 220, 18, 13, 18, 220, 18, 496, 18, 220, 18, 1112, 18, 220, 146394, 97529, 241, 44258, 233, 146568, 44258, 224, 147603, 20879, 115, 146280, 44258, 223, 146280, 147272, 97529, 227, 144534, 937, 104100, 18493, 22377, 99257, 16, 18, 16, 19, 16, 20, 16, 35727, 21216, 55460, 53237, 18658, 14144, 1456, 13073, 63471, 33594, 3038, 133178, 79012, 3355, 4605, 4605, 13874, 13874, 73594, 3014, 3014, 28149, 17085, 2928, 26610, 7646, 358, 3003, 1012, 364, 83, 813, 566, 594, 1052, 11, 364, 787, 498, 2704, 30, 364, 44, 537, 2704, 358, 3278, 1281, 432, 11, 364, 35, 498, 1075, 1045, 15243, 30, 1205, 6, 42612, 264, 63866, 43]],
];

describe("qwenTokenizer", () => {
  const tokenizer = qwenTokenizer();

  it.each(llamaCppQwen2Vectors)("encodes %j as Qwen2's tokenizer does", (text, ids) => {
    expect(tokenizer.encode(text)).toEqual(ids);
    expect(tokenizer.count(text)).toBe(ids.length);
  });

  it("encodes a sentence as published for Qwen2.5-7B", () => {
    expect(tokenizer.encode(" hello sir. How are you Edward?")).toEqual([
      23811, 27048, 13, 2585, 525, 498, 21891, 30,
    ]);
  });

  it("has Qwen2.5's added tokens, and none of Qwen3's", () => {
    expect(tokenizer.vocabularySize).toBe(151665);
    expect(QWEN_VOCABULARY_SIZE).toBe(151665);
    expect(tokenizer.addedTokens.get("<|endoftext|>")).toBe(END_OF_TEXT_ID);
    expect(tokenizer.addedTokens.get("<|im_start|>")).toBe(IM_START_ID);
    expect(tokenizer.addedTokens.get("<|im_end|>")).toBe(IM_END_ID);
    expect(tokenizer.addedTokens.get("<|file_sep|>")).toBe(151664);
    expect(tokenizer.addedTokens.size).toBe(22);
    // Qwen3's <think> is an added token (151667); to Qwen2.5 it is plain text.
    expect(tokenizer.encode("<think>")).not.toContain(151667);
    expect(tokenizer.decode(tokenizer.encode("<think>x</think>"))).toBe("<think>x</think>");
    expect([END_OF_TEXT_ID, IM_START_ID, IM_END_ID].every((id) => tokenizer.isSpecial(id))).toBe(true);
    expect(tokenizer.isSpecial(151657)).toBe(false); // <tool_call> is added but not special
    expect(tokenizer.isSpecial(9707)).toBe(false);
  });

  it("turns added-token strings in text into their ids", () => {
    expect(tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n")).toEqual([
      IM_START_ID,
      872,
      198,
      6023,
      IM_END_ID,
      198,
    ]);
  });

  it("decodes sequences whole, and single ids as vLLM shows them in logprobs", () => {
    const ids = tokenizer.encode(" this is 🦙.cpp");
    expect(tokenizer.decode(ids)).toBe(" this is 🦙.cpp");
    // The llama is three byte-level tokens: alone, none of them is valid UTF-8.
    expect(tokenizer.tokenText(11162)).toBe(" \uFFFD");
    expect(tokenizer.tokenText(99)).toBe("\uFFFD");
    expect(tokenizer.tokenText(1879)).toBe(" world");
    expect(tokenizer.tokenText(IM_END_ID)).toBe("<|im_end|>");
    expect(tokenizer.decode([9707, IM_END_ID], { skipSpecialTokens: true })).toBe("Hello");
    expect(tokenizer.decode([9707, 151657], { skipSpecialTokens: true })).toBe("Hello<tool_call>");
    expect(tokenizer.decode([])).toBe("");
  });

  it("is not a perfect round trip: text comes back NFC-normalised, and ids re-encode to their canonical split", () => {
    expect(tokenizer.decode(tokenizer.encode("cafe\u0301"))).toBe("caf\u00e9");
    // " Hello" as " " + "Hello" decodes to the same text, which encodes as the single token.
    const split = [220, 9707];
    expect(tokenizer.encode(tokenizer.decode(split))).toEqual([21927]);
  });

  it("refuses ids the tokenizer does not know, naming the position", () => {
    expect(tokenizer.isTokenId(151664)).toBe(true);
    for (const bad of [151665, 152063, -1, 1.5, Number.NaN, "7"])
      expect(tokenizer.isTokenId(bad)).toBe(false);
    expect(() => tokenizer.decode([9707, 151665])).toThrow(CacheonError);
    expect(() => tokenizer.decode([9707, 151665])).toThrow(/token id 151665 at position 1/);
    expect(() => tokenizer.tokenText(-3)).toThrow(/not a Qwen2.5 token id/);
  });

  it("is one instance per process", () => {
    expect(qwenTokenizer()).toBe(tokenizer);
  });
});

describe("applyQwenChatTemplate", () => {
  it("adds the default system message and the generation prompt", () => {
    expect(applyQwenChatTemplate([{ role: "user", content: "hi" }])).toBe(
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("keeps a given system message first and adds no default", () => {
    const text = applyQwenChatTemplate(
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
      ],
      { addGenerationPrompt: false },
    );
    expect(text).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
  });

  // Ids printed by Hugging Face's apply_chat_template for Qwen2.5 Instruct models, as published.
  it("gives the ids Qwen2.5-Instruct's template gives, with the default system message", () => {
    // biome-ignore format: ids as printed
    const header = [
      151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950,
      17847, 13, 151645, 198, 151644, 872, 198,
    ];
    const joy =
      "Joy can read 8 pages of a book in 20 minutes. How many hours will it take her to read 120 pages?";
    // biome-ignore format: ids as printed
    const joyIds = [
      ...header,
      79771, 646, 1349, 220, 23, 6816, 315, 264, 2311, 304, 220, 17, 15, 4420, 13, 2585, 1657, 4115, 686,
      432, 1896, 1059, 311, 1349, 220, 16, 17, 15, 6816, 30, 151645, 198, 151644, 77091, 198,
    ];
    expect(qwenChatPromptIds([{ role: "user", content: joy }])).toEqual(joyIds);
    // biome-ignore format: ids as printed
    const springIds = [...header, 61443, 104383, 109478, 105303, 9370, 110401, 151645, 198, 151644, 77091, 198];
    expect(qwenChatPromptIds([{ role: "user", content: "写一段描写春天的散文" }])).toEqual(springIds);
    const tokenizer = qwenTokenizer();
    const withAnswer = applyQwenChatTemplate(
      [
        { role: "system", content: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." },
        { role: "user", content: "write a quick sort algorithm." },
        { role: "assistant", content: "Here is the code:" },
      ],
      { addGenerationPrompt: false },
    );
    // biome-ignore format: ids as printed
    const answerIds = [
      ...header,
      4934, 264, 3974, 3378, 12111, 13, 151645, 198, 151644, 77091, 198, 8420, 374, 279, 2038, 25, 151645, 198,
    ];
    expect(tokenizer.encode(withAnswer)).toEqual(answerIds);
  });
});
