import { qwenTokenizer } from "../../tokenizer/qwen-tokenizer.ts";
import type { GeneratedOutput, GeneratedToken } from "../generated-output.ts";
import { tokenIdOf } from "../generated-output.ts";
import type { TeacherForcedOutput } from "../teacher-forced-output.ts";

/** Outputs and teacher-forced scores for the judge's table tests, in real Qwen2.5 token ids. */
export const tokenizer = qwenTokenizer();

/** The id of a word that is one Qwen token (e.g. " river"). */
export const id = (word: string): number => tokenizer.encode(word)[0] as number;

/** A token (as a token id) with its logprob; its top list is itself, then the given alternatives. */
export function tok(tokenId: number, logprob: number, alts: [number, number][] = []): GeneratedToken {
  const token = `token_id:${tokenId}`;
  return {
    token,
    logprob,
    top: [{ token, logprob }, ...alts.map(([t, l]) => ({ token: `token_id:${t}`, logprob: l }))],
  };
}

/** An output of these tokens, consistent in itself (text, usage; finish "length" unless given). */
export function output(tokens: GeneratedToken[], over: Partial<GeneratedOutput> = {}): GeneratedOutput {
  const ids = tokens.map((t) => tokenIdOf(t.token) as number);
  return {
    repetition: 0,
    requestIndex: 0,
    promptId: "p0",
    ok: true,
    text: tokenizer.decode(ids, { skipSpecialTokens: true }),
    tokens,
    finishReason: "length",
    usageCompletionTokens: tokens.length,
    ...over,
  };
}

/** Teacher forcing that agrees with the output's reported logprobs, the output's token best everywhere. */
export function forced(o: GeneratedOutput, over: Partial<TeacherForcedOutput> = {}): TeacherForcedOutput {
  const logprobs = o.tokens.map((t) => t.logprob);
  return {
    repetition: o.repetition,
    requestIndex: o.requestIndex,
    logprobs,
    bestLogprobs: [...logprobs],
    ranks: logprobs.map(() => 1),
    ...(o.finishReason === "stop" ? { stop: { logprob: -0.05, bestLogprob: -0.05, rank: 1 } } : {}),
    ...over,
  };
}
