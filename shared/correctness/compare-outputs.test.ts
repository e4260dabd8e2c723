import { describe, expect, it } from "vitest";
import { PromptVerdict } from "../gen/cacheon/v1/correctness_pb.ts";
import { compareOutputs, comparePrompt, defaultThresholds, resolveThresholds } from "./compare-outputs.ts";
import type { GeneratedOutput, GeneratedToken } from "./generated-output.ts";
import { tokenIdOf } from "./generated-output.ts";

/** A token whose top list is itself first, then the given alternatives. */
function tok(token: string, logprob: number, alts: [string, number][] = []): GeneratedToken {
  return { token, logprob, top: [{ token, logprob }, ...alts.map(([t, l]) => ({ token: t, logprob: l }))] };
}

function output(tokens: GeneratedToken[], over: Partial<GeneratedOutput> = {}): GeneratedOutput {
  return {
    repetition: 0,
    requestIndex: 0,
    promptId: "p0",
    ok: true,
    text: tokens.map((t) => t.token).join(""),
    tokens,
    finishReason: "length",
    ...over,
  };
}

const ref = [tok("a", -0.1, [["x", -3]]), tok("b", -0.5, [["c", -0.52]]), tok("d", -0.2), tok("e", -0.3)];

describe("comparePrompt", () => {
  it("passes identical outputs with small logprob noise", () => {
    const cand = ref.map((t) => ({ ...t, logprob: t.logprob + 0.01, top: t.top }));
    const e = comparePrompt(output(ref), output(cand), undefined);
    expect(e.verdict).toBe(PromptVerdict.PASS);
    expect(e.diverged).toBe(false);
    expect(e.sharedPrefixTokens).toBe(4);
    expect(e.maxPrefixLogprobDiff).toBeCloseTo(0.01, 10);
    expect(e.referenceMeanLogprob).toBeCloseTo(-0.275, 10);
  });

  it("passes a divergence at a near-tie where each token is in the other's top-k", () => {
    const cand = [ref[0] as GeneratedToken, tok("c", -0.5, [["b", -0.51]]), tok("q", -0.4), tok("r", -0.2)];
    const e = comparePrompt(output(ref), output(cand), -0.3);
    expect(e.diverged).toBe(true);
    expect(e.sharedPrefixTokens).toBe(1);
    expect(e.candidateTokenInReferenceTopK).toBe(true);
    expect(e.referenceTokenInCandidateTopK).toBe(true);
    expect(e.divergenceLogprobGap).toBeCloseTo(0.02, 10);
    expect(e.verdict).toBe(PromptVerdict.PASS);
  });

  it("fails a divergent token outside the reference's top-k, naming the reason", () => {
    const cand = [ref[0] as GeneratedToken, tok("zz", -0.1), tok("d", -0.2), tok("e", -0.3)];
    const e = comparePrompt(output(ref), output(cand), undefined);
    expect(e.verdict).toBe(PromptVerdict.FAIL);
    expect(e.reason).toContain("divergent token not in reference top-5");
    expect(e.reason).toContain("reference token not in candidate top-5");
    expect(e.divergenceLogprobGap).toBe(0);
  });

  it("fails a divergence with a large logprob gap even when in the top-k", () => {
    const cand = [tok("x", -3, [["a", -0.1]]), ...ref.slice(1)];
    const e = comparePrompt(output(ref), output(cand), undefined);
    expect(e.divergenceLogprobGap).toBeCloseTo(2.9, 10);
    expect(e.reason).toContain("divergence logprob gap above 1 nats");
  });

  it("fails perturbed logprobs on an identical token sequence", () => {
    const cand = ref.map((t, i) => ({ ...t, logprob: t.logprob - (i === 2 ? 0.9 : 0) }));
    const e = comparePrompt(output(ref), output(cand), undefined);
    expect(e.verdict).toBe(PromptVerdict.FAIL);
    expect(e.reason).toContain("logprob difference on shared prefix above 0.5 nats");
    const small = ref.map((t) => ({ ...t, logprob: t.logprob - 0.2 }));
    expect(comparePrompt(output(ref), output(small), undefined).reason).toContain("mean logprob difference");
  });

  it("fails a low teacher-forced log-likelihood and passes one close to the reference's", () => {
    expect(comparePrompt(output(ref), output(ref), -2).reason).toContain("teacher-forced log-likelihood");
    expect(comparePrompt(output(ref), output(ref), -0.4).verdict).toBe(PromptVerdict.PASS);
    expect(comparePrompt(output(ref), output(ref), Number.NaN).verdict).toBe(PromptVerdict.FAIL);
  });

  it("fails an early stop and judges a failed request as missing", () => {
    const long = Array.from({ length: 20 }, (_, i) => tok(`t${i}`, -0.1));
    const e = comparePrompt(output(long), output(long.slice(0, 10)), undefined);
    expect(e.reason).toContain("output shorter than 0.9");
    expect(comparePrompt(output(ref), output(ref, { ok: false }), undefined).verdict).toBe(
      PromptVerdict.MISSING,
    );
    expect(comparePrompt(output(ref, { ok: false }), output(ref), undefined).reason).toBe(
      "reference request failed",
    );
    expect(comparePrompt(undefined, output(ref), undefined).reason).toBe(
      "no reference output for this request",
    );
  });

  it("fails a candidate without logprobs, and compares text when the reference has none", () => {
    expect(comparePrompt(output(ref), output([]), undefined).reason).toBe(
      "candidate sent no per-token logprobs",
    );
    const a = output([], { text: "hello" });
    expect(comparePrompt(a, output([], { text: "hello" }), undefined).verdict).toBe(PromptVerdict.PASS);
    expect(comparePrompt(a, output([], { text: "help" }), undefined).verdict).toBe(PromptVerdict.FAIL);
  });
});

describe("compareOutputs", () => {
  it("passes when every output passes and fails naming prompts and reasons otherwise", () => {
    const reference = [output(ref), output(ref, { requestIndex: 1, promptId: "p1" })];
    const good = compareOutputs({ reference, candidate: reference });
    expect(good.passed).toBe(true);
    expect(good.promptsPassed).toBe(2);
    expect(good.thresholds).toContain("topK=5");

    const bad = [tok("zz", -0.1), ...ref.slice(1)];
    const candidate = [
      output(ref),
      output(bad, { requestIndex: 1, promptId: "p1" }),
      output(bad, { repetition: 1, requestIndex: 1, promptId: "p1" }),
    ];
    const summary = compareOutputs({ reference, candidate });
    expect(summary.passed).toBe(false);
    expect(summary.promptsFailed).toBe(2);
    expect(summary.reasons.join("\n")).toMatch(
      /divergent token not in reference top-5: 2 outputs \(prompts p1; rep\/request 0\/1, 1\/1\)/,
    );
  });

  it("uses teacher-forced scores by repetition and request", () => {
    const reference = [output(ref)];
    const summary = compareOutputs({
      reference,
      candidate: [output(ref), output(ref, { repetition: 1 })],
      teacherForced: [{ repetition: 1, requestIndex: 0, meanLogprob: -5 }],
    });
    expect(summary.promptsFailed).toBe(1);
    expect(summary.promptsEvidence[1]?.teacherForcedMeanLogprob).toBe(-5);
    expect(summary.promptsEvidence[0]?.teacherForcedMeanLogprob).toBeNaN();
  });

  it("tolerates failures and missing prompts only as far as the thresholds allow", () => {
    const reference = [output(ref)];
    const missing = compareOutputs({
      reference,
      candidate: [output(ref), output(ref, { repetition: 1, ok: false })],
    });
    expect(missing.passed).toBe(false);
    expect(missing.promptsMissing).toBe(1);
    expect(missing.reasons[0]).toContain("candidate request failed");
    const lenient = compareOutputs({
      reference,
      candidate: [output(ref), output(ref, { repetition: 1, ok: false })],
      thresholds: { maxMissingFraction: 0.5 },
    });
    expect(lenient.passed).toBe(true);
    const none = compareOutputs({ reference, candidate: [] });
    expect(none.passed).toBe(false);
    expect(none.reasons).toContain("no candidate outputs to judge");
  });

  it("rejects nonsense thresholds", () => {
    expect(() => resolveThresholds({ topK: 0 })).toThrow(/topK/);
    expect(() => resolveThresholds({ maxPrefixLogprobDiff: -1 })).toThrow(/maxPrefixLogprobDiff/);
    expect(() => resolveThresholds({ minLengthRatio: 2 })).toThrow(/within 0..1/);
    expect(() => resolveThresholds({ bogus: 1 } as never)).toThrow(/unknown correctness threshold "bogus"/);
    expect(resolveThresholds({ topK: 3 })).toEqual({ ...defaultThresholds, topK: 3 });
  });
});

describe("tokenIdOf", () => {
  it("reads token ids and leaves text alone", () => {
    expect(tokenIdOf("token_id:42")).toBe(42);
    expect(tokenIdOf("hello")).toBeUndefined();
    expect(tokenIdOf("token_id:")).toBeUndefined();
  });
});
