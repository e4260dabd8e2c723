import { describe, expect, it } from "vitest";
import { IM_END_ID, qwenTokenizer } from "../tokenizer/qwen-tokenizer.ts";
import { checkIntegrity } from "./check-integrity.ts";
import type { GeneratedOutput } from "./generated-output.ts";

const tokenizer = qwenTokenizer();
const text = "The river ran past the old mill, and the night was quiet. 你好 🚀";
const ids = tokenizer.encode(text);

/** An honest output of these ids: one logprobs entry per id, the text their decoding. */
function output(over: Partial<GeneratedOutput> = {}, claimed: number[] = ids): GeneratedOutput {
  return {
    repetition: 0,
    requestIndex: 0,
    promptId: "p0",
    ok: true,
    text: over.text ?? tokenizer.decode(claimed, { skipSpecialTokens: true }),
    tokens: claimed.map((id) => ({ token: `token_id:${id}`, logprob: -0.1, top: [] })),
    finishReason: "stop",
    usageCompletionTokens: claimed.length,
    ...over,
  };
}

const check = (o: GeneratedOutput, maxTokens = 64, fixedOutputLength = false) =>
  checkIntegrity(o, { tokenizer, maxTokens, fixedOutputLength });
const codes = (o: GeneratedOutput, maxTokens?: number, fixed?: boolean) =>
  check(o, maxTokens, fixed).failures.map((f) => f.code);

describe("checkIntegrity", () => {
  it("passes an honest output, multi-byte characters split over tokens included", () => {
    const r = check(output());
    expect(r.failures).toEqual([]);
    expect(r.ids).toEqual(ids);
    expect(r.retokenized).toBe(ids.length);
    // Cut inside the rocket's bytes (max_tokens): the server held the partial character back.
    const cut = ids.slice(0, -1);
    expect(codes(output({ text: text.slice(0, -2), finishReason: "length" }, cut), cut.length)).toEqual([]);
  });

  it("fails a failed request with its code, and a stream without logprobs", () => {
    const r = check(output({ ok: false, failure: "usage-mismatch", failureDetail: "usage 9 but 3 tokens" }));
    expect(r.failures).toEqual([
      {
        code: "request-failed",
        kind: "integrity",
        detail: "the request failed (usage-mismatch: usage 9 but 3 tokens)",
      },
    ]);
    expect(codes(output({ tokens: [] }))).toEqual(["no-logprobs"]);
  });

  it("fails ids the reference does not know (padding rows of the embedding included)", () => {
    const r = check(output({ text }, [...ids.slice(0, 5), 151_700, 152_000]));
    expect(r.failures.map((f) => f.code)).toEqual(["unknown-token-id"]);
    expect(r.failures[0]?.detail).toMatch(
      /2 claimed token id\(s\) unknown .* the first 151700 at position 5/,
    );
    expect(r.ids).toBeUndefined();
  });

  it("fails special tokens in the output: padding the count with tokens that carry no text", () => {
    const padded = [...ids, IM_END_ID, IM_END_ID];
    expect(codes(output({}, padded))).toEqual(["special-token"]);
  });

  it("fails entries that are not token ids", () => {
    const o = output();
    o.tokens[3] = { token: " past", logprob: -0.1, top: [] };
    expect(codes(o)).toEqual(["no-token-ids"]);
  });

  it("fails valid ids whose text is not the streamed text", () => {
    // Claims the honest ids but streams other words of the same length.
    expect(codes(output({ text: text.replace("quiet", "quite") }))).toEqual(["text-mismatch"]);
    const r = check(output({ text: text.replace("quiet", "quite") }));
    expect(r.failures[0]?.detail).toContain(`from character ${text.indexOf("quiet") + 3}: streamed "te. `);
    // Streams honest text, claims junk ids of the same count.
    const junk = ids.map((_, i) => 1000 + i);
    expect(codes(output({ text }, junk))).toEqual(["text-mismatch"]);
    // More text arrived than was kept, and more than the ids can decode to.
    expect(codes(output({ textChars: 100_000 }))).toEqual(["text-mismatch"]);
  });

  it("fails a count far from the re-tokenised text: one id per character", () => {
    const perChar = [...text.slice(0, 40)].flatMap((c) => tokenizer.encode(c));
    const r = check(output({}, perChar));
    expect(r.failures.map((f) => f.code)).toEqual(["retokenized-count"]);
    expect(r.retokenized).toBeLessThan(perChar.length / 2);
  });

  it("fails usage that is absent or disagrees", () => {
    expect(codes(output({ usageCompletionTokens: -1 }))).toEqual(["usage-mismatch"]);
    expect(codes(output({ usageCompletionTokens: undefined }))).toEqual(["usage-mismatch"]);
    expect(codes(output({ usageCompletionTokens: ids.length + 3 }))).toEqual(["usage-mismatch"]);
  });

  it("fails a finish reason that disagrees with the length", () => {
    expect(codes(output({ finishReason: "length" }), 64)).toEqual(["finish-reason"]);
    expect(codes(output({ finishReason: "length" }), ids.length)).toEqual([]);
    expect(codes(output({ finishReason: "" }))).toEqual(["finish-reason"]);
    expect(codes(output({ finishReason: "stop" }), ids.length, true)).toEqual(["finish-reason"]);
    expect(codes(output({ finishReason: "length" }), ids.length, true)).toEqual([]);
  });
});
