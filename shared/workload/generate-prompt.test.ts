import { describe, expect, it } from "vitest";
import { applyQwenChatTemplate } from "../tokenizer/qwen-chat-template.ts";
import { qwenTokenizer } from "../tokenizer/qwen-tokenizer.ts";
import { generatePrompt, promptTokenTolerance } from "./generate-prompt.ts";
import { keyedRandom } from "./keyed-random.ts";
import { promptCorpus } from "./prompt-corpus.ts";
import { promptKey } from "./prompt-key.ts";
import { promptSpaceLog10 } from "./prompt-space.ts";

const key = promptKey(new Uint8Array(32).fill(9), "c0ffee");
const make = (i: number, targetTokens: number) =>
  generatePrompt({ id: `p${i}`, random: keyedRandom(key, `prompt/${i}`), targetTokens });

describe("generatePrompt", () => {
  const tokenizer = qwenTokenizer();

  it.each([256, 700, 2048, 6144])("sizes prompts to %i real Qwen2.5 chat-template tokens", (target) => {
    for (let i = 0; i < (target > 2048 ? 3 : 8); i++) {
      const prompt = make(i, target);
      const exact = tokenizer.count(applyQwenChatTemplate(prompt.messages));
      expect(prompt.promptTokens).toBe(exact);
      expect(exact).toBeLessThanOrEqual(target);
      expect(exact).toBeGreaterThanOrEqual(target - promptTokenTolerance(target));
    }
  });

  it("is a function of its stream: the same stream gives the same prompt, another gives another", () => {
    expect(make(1, 400)).toEqual(make(1, 400));
    expect(make(2, 400).messages).not.toEqual(make(1, 400).messages);
  });

  it("composes documents from the corpus behind an opening, a task and questions", () => {
    const prompt = make(3, 2048);
    const user = prompt.messages.at(-1)?.content ?? "";
    expect(user).toMatch(
      /^(Dossier|Reading pack|File|Request|Collection|Briefing set|Archive batch|Case notes) [A-Z]{2}-\d{5}-[A-Z]{2}\d/,
    );
    expect(user).toMatch(/Task: /);
    expect(user).toMatch(/Questions:\n1\. /);
    const documents = [...user.matchAll(/\n\nDocument (\d+) — /g)].map((m) => Number(m[1]));
    expect(documents.length).toBeGreaterThan(2);
    expect(documents).toEqual(documents.map((_, i) => i + 1));
    expect(user).toMatch(new RegExp(`\\b${documents.length} (source )?documents`));
  });

  it("gives prompts no common prefix beyond the system turn, so nothing can be prepared for their start", () => {
    const prompts = Array.from({ length: 40 }, (_, i) => make(100 + i, 300));
    const ids = prompts.map((p) => tokenizer.encode(applyQwenChatTemplate(p.messages)));
    let longest = 0;
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) {
        const x = ids[a] as number[];
        const y = ids[b] as number[];
        let n = 0;
        while (n < x.length && x[n] === y[n]) n++;
        // The shared part may only be the system turn (default or chosen) and "<|im_start|>user\n"
        // plus the opening's first words ("Reading pack ").
        const system = tokenizer.encode(
          applyQwenChatTemplate(prompts[a]?.messages.slice(0, -1) ?? [], { addGenerationPrompt: false }),
        );
        longest = Math.max(longest, n - (prompts[a]?.messages.length === 2 ? system.length : 0));
      }
    }
    expect(longest).toBeLessThan(40); // default system turn (24) + user header (3) + opening words
  });

  it("refuses a target too small for the instructions, naming the least that works", () => {
    expect(() => make(1, 60)).toThrow(/too small.*use at least \d+/);
    expect(() => make(1, 0)).toThrow(/positive number of tokens/);
  });
});

describe("promptSpaceLog10", () => {
  it("counts more distinct prompts at the default size than any cache could hold (> 10^60)", () => {
    const space = promptSpaceLog10({
      corpus: promptCorpus(),
      tokenizer: qwenTokenizer(),
      targetTokens: 6144,
    });
    expect(space.shortPassages).toBeGreaterThan(1500);
    expect(space.documents).toBeGreaterThanOrEqual(10);
    expect(space.log10).toBeGreaterThan(60);
  });
});
