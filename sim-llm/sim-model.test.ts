import { describe, expect, it } from "vitest";
import { applyQwenChatTemplate } from "../shared/tokenizer/qwen-chat-template.ts";
import { type ModelState, SimModel } from "./sim-model.ts";
import { decode, encode, vocabularySize } from "./tokenizer.ts";
import { IM_END_ID, IM_START_ID } from "./vocabulary.ts";

// The model and tokenizer as plain functions on plain data.
const prompts = Array.from({ length: 24 }, (_, i) =>
  encode(
    applyQwenChatTemplate([{ role: "user", content: `Question ${i}: tell me about the river and the sea.` }]),
  ),
);

/** Greedy tokens and each position's top-5 ids, EOS ignored. */
function greedy(model: SimModel, prompt: number[], n: number): { ids: number[]; tops: number[][] } {
  let state: ModelState = model.run(prompt);
  const ids: number[] = [];
  const tops: number[][] = [];
  for (let i = 0; i < n; i++) {
    const dist = model.distribution(state);
    const id = dist.ids.find((c) => c !== IM_END_ID) ?? 0;
    ids.push(id);
    tops.push(dist.ids.slice(0, 5));
    state = model.advance(state, id);
  }
  return { ids, tops };
}

describe("SimModel", () => {
  it("gives distributions that sum to 1, with realistic peaks", () => {
    const model = new SimModel();
    const topProbabilities: number[] = [];
    for (const prompt of prompts) {
      let state = model.run(prompt);
      for (let i = 0; i < 50; i++) {
        const dist = model.distribution(state);
        const mass =
          dist.logprobs.reduce((sum, lp) => sum + Math.exp(lp), 0) +
          (vocabularySize - dist.ids.length) * Math.exp(dist.tailLogprob);
        expect(mass).toBeCloseTo(1, 9);
        topProbabilities.push(Math.exp(dist.logprobs[0] ?? 0));
        state = model.advance(state, dist.ids[0] === IM_END_ID ? (dist.ids[1] ?? 0) : (dist.ids[0] ?? 0));
      }
    }
    topProbabilities.sort((a, b) => a - b);
    const median = topProbabilities[Math.floor(topProbabilities.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(0.6);
    // ...but not always certain: some positions are near-ties.
    expect(topProbabilities.filter((p) => p < 0.55).length).toBeGreaterThan(topProbabilities.length * 0.02);
  });

  it("depends only on the context: the same tokens reach the same state by any route", () => {
    const model = new SimModel();
    const prompt = prompts[0] ?? [];
    const { ids } = greedy(model, prompt, 40);
    const stepwise = ids.reduce((s, id) => model.advance(s, id), model.run(prompt));
    expect(model.run([...prompt, ...ids])).toEqual(stepwise);
  });

  it("with numeric noise, near-ties sometimes flip, and every flip is inside the other's top 5", () => {
    const a = new SimModel({ numericNoise: 0.05, noiseSeed: 1 });
    const b = new SimModel({ numericNoise: 0.05, noiseSeed: 2 });
    let diverged = 0;
    const firstDifferences: number[] = [];
    for (const prompt of prompts) {
      const x = greedy(a, prompt, 300);
      const y = greedy(b, prompt, 300);
      const at = x.ids.findIndex((id, i) => id !== y.ids[i]);
      if (at < 0) continue;
      diverged += 1;
      firstDifferences.push(at);
      // vLLM's check_logprobs_close: at the first difference each run's token is in the other's top-k.
      expect(y.tops[at]).toContain(x.ids[at]);
      expect(x.tops[at]).toContain(y.ids[at]);
    }
    expect(diverged).toBeGreaterThan(0);
    // Honest noisy servers agree on most tokens before the first flip.
    firstDifferences.sort((p, q) => p - q);
    expect(firstDifferences[Math.floor(firstDifferences.length / 2)]).toBeGreaterThan(15);
    // Without noise, two models agree exactly.
    const c = greedy(new SimModel({ noiseSeed: 1 }), prompts[0] ?? [], 300);
    const d = greedy(new SimModel({ noiseSeed: 2 }), prompts[0] ?? [], 300);
    expect(c).toEqual(d);
  });

  it("a wrong model (another salt) disagrees from the first tokens", () => {
    const honest = greedy(new SimModel(), prompts[0] ?? [], 20).ids;
    const wrong = greedy(new SimModel({ salt: 99 }), prompts[0] ?? [], 20).ids;
    expect(wrong).not.toEqual(honest);
  });

  it("ends answers with EOS at prompt-dependent natural lengths", () => {
    const model = new SimModel();
    const lengths = prompts.map((prompt) => {
      let state = model.run(prompt);
      for (let n = 0; n < 2000; n++) {
        const top = model.distribution(state).ids[0] ?? 0;
        if (top === IM_END_ID) return n;
        state = model.advance(state, top);
      }
      return -1;
    });
    expect(lengths.every((n) => n > 10 && n < 2000)).toBe(true);
    expect(new Set(lengths).size).toBeGreaterThan(prompts.length / 2);
  });
});

describe("tokenizer", () => {
  it("round-trips any text, including characters outside the vocabulary", () => {
    for (const text of [
      "Hello, world!",
      "naïve café — 東京 🚀",
      "  two  spaces\n\ttab",
      "x".repeat(50),
      "",
    ]) {
      expect(decode(encode(text))).toBe(text);
    }
  });

  it("encodes special-token strings as their special ids and can drop them when decoding", () => {
    const ids = encode("<|im_start|>user\nhi<|im_end|>");
    expect(ids[0]).toBe(IM_START_ID);
    expect(ids.at(-1)).toBe(IM_END_ID);
    expect(decode(ids, { skipSpecial: true })).toBe("user\nhi");
  });

  it("is Qwen2.5's tokenizer: generated text does not always re-tokenize to the generated ids", () => {
    // "." then "\n" are two tokens when generated one by one, one token (".\n") when the text is encoded.
    const pieces = [encode(" sea")[0], encode(".")[0], encode("\n")[0]] as number[];
    const text = decode(pieces);
    expect(text).toBe(" sea.\n");
    expect(encode(text)).toHaveLength(2);
    expect(vocabularySize).toBe(151_665);
  });

  it("makes known words one token and unknown words a few pieces", () => {
    expect(encode(" the")).toHaveLength(1);
    expect(encode(" the river").length).toBe(2);
    const unknown = encode(" antidisestablishmentarianism");
    expect(unknown.length).toBeGreaterThan(1);
    expect(unknown.length).toBeLessThan(20);
  });
});
